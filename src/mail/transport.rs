//! SMTP delivery: TLS mode, an extra trusted CA, credentials from the environment or a file,
//! one connection kept for a whole delivery pass, and a timeout around each step.
//!
//! The connection is lettre's `AsyncSmtpConnection`, opened on a socket of our own with
//! `TCP_NODELAY` set, not through lettre's `AsyncSmtpTransport`. lettre writes a message's body
//! and its terminating `.` in two flushed writes and leaves Nagle's algorithm on, so the `.`
//! waited for the server to acknowledge the body's last segment, which a Linux server delays
//! by its delayed-ACK timer: about 41 ms of each message's 45 ms against aiosmtpd, which
//! capped delivery at about 22 messages/s. And since the kernel still sends a killed process's
//! last bytes, a `kill -9` in those 41 ms left the message delivered while the outbox still
//! said `sending` (9 of 9 killed sends ended with a duplicate; 8 of 10 in `benches/mail.sh`'s
//! KILL mode). With `TCP_NODELAY` the `.` leaves at once: in `benches/mail.sh` the debug
//! build went from 51 ms a message (20 messages/s) to 10.6 ms (94 messages/s), the release
//! build does 129 to 140 messages/s (README, Mail); and 6 of 10 kills still left a duplicate,
//! the server's own time to store a message being most of what remains of its cycle. lettre
//! cannot put the body and the `.` in one write nor pipeline commands (each waits for its
//! reply) without being patched; with no Nagle delay neither costs more than a round trip.
//!
//! A timeout is the server's when it hits opening the session or `MAIL FROM` (the same for
//! every message: the next message would wait as long), and the message's own when it hits
//! after that, in `RCPT TO` or the data: a server that stalls one recipient's message fails
//! that message, and the pass goes on.

use crate::config::{SmtpSettings, TlsMode};
use anyhow::Context;
use lettre::address::Envelope;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
#[allow(deprecated)] // see ImplicitTls
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Quit, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::Error as SmtpError;
use lettre::Address;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context as TaskContext, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

/// Why a delivery failed: a permanent refusal is not retried; a failure of the server itself
/// is, and makes the rest of the pass pointless.
#[derive(Debug)]
pub enum DeliveryError {
    Permanent(String),
    Transient(String),
    /// Nothing about this message: the server could not be reached, did not answer in time
    /// before the message's recipients, failed TLS, closed the service (421) or refused the
    /// login (454, 530, 534, 535, 538).
    Server(String),
}

/// Replies that refuse the session, not the message: service closing, and authentication.
const SERVER_REPLIES: [u16; 6] = [421, 454, 530, 534, 535, 538];

/// How the connection is secured.
enum Security {
    Plain,
    Starttls(TlsParameters),
    Implicit(TlsParameters),
}

pub struct Smtp {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    from: Address,
    timeout: Duration,
    /// host:port, for messages.
    server: String,
    /// The session of the previous message, for the next one.
    connection: Option<AsyncSmtpConnection>,
}

/// Where a message's transaction failed.
enum Failure {
    /// At `MAIL FROM`: nothing of the message was sent.
    Sender(Option<SmtpError>),
    /// In `RCPT TO` or the data.
    Message(Option<SmtpError>),
    /// Not sent: the server lacks an extension the message needs.
    Unsupported(String),
}

/// The SMTP password: from the environment variable named by `password_env`, else from the
/// first line of `password_file`. Never from the configuration itself.
fn password(settings: &SmtpSettings) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var(&settings.password_env) {
        if !password.is_empty() {
            return Ok(password);
        }
    }
    if !settings.password_file.is_empty() {
        let text = std::fs::read_to_string(&settings.password_file).with_context(|| {
            format!("smtp.password_file: cannot read {}", settings.password_file)
        })?;
        return Ok(text.lines().next().unwrap_or_default().to_string());
    }
    anyhow::bail!(
        "smtp.username is set but there is no password: set the environment variable {} or smtp.password_file",
        settings.password_env
    )
}

/// The TLS parameters for `settings.host`, trusting the certificates in `ca_file` too.
fn tls_parameters(settings: &SmtpSettings) -> anyhow::Result<TlsParameters> {
    let mut builder = TlsParameters::builder(settings.host.clone());
    if !settings.ca_file.is_empty() {
        for certificate in ca_certificates(&settings.ca_file)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().with_context(|| {
        format!(
            "smtp: cannot set up TLS for {} (smtp.ca_file = {:?})",
            settings.host, settings.ca_file
        )
    })
}

/// Every certificate in the PEM file `path`; none is an error (lettre would trust nothing more
/// and say nothing: a DER file or a key alone would only show later as an unknown issuer).
fn ca_certificates(path: &str) -> anyhow::Result<Vec<Certificate>> {
    let pem = std::fs::read(path).with_context(|| format!("smtp.ca_file: cannot read {path}"))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("smtp.ca_file: {path} is not a valid PEM file: {e}"))?;
    if certificates.is_empty() {
        anyhow::bail!(
            "smtp.ca_file: {path} holds no PEM certificate (a -----BEGIN CERTIFICATE----- block); \
             a DER certificate converts with `openssl x509 -inform der -in {path} -out ca.pem`"
        );
    }
    certificates
        .into_iter()
        .map(|der| {
            Certificate::from_der(der.to_vec()).with_context(|| {
                format!("smtp.ca_file: {path} holds a certificate that cannot be read")
            })
        })
        .collect()
}

impl Smtp {
    pub fn new(settings: &SmtpSettings, from: &Mailbox) -> anyhow::Result<Smtp> {
        let security = match settings.tls {
            TlsMode::None => Security::Plain,
            TlsMode::Starttls => Security::Starttls(tls_parameters(settings)?),
            TlsMode::Tls => Security::Implicit(tls_parameters(settings)?),
        };
        let credentials = if settings.username.is_empty() {
            None
        } else {
            Some(Credentials::new(
                settings.username.clone(),
                password(settings)?,
            ))
        };
        Ok(Smtp {
            host: settings.host.clone(),
            port: settings.port,
            security,
            credentials,
            hello: ClientId::default(),
            from: from.email.clone(),
            timeout: Duration::from_secs(settings.timeout_secs),
            server: format!("{}:{}", settings.host, settings.port),
            connection: None,
        })
    }

    /// Sends one message to `to`, on the connection of the previous message when it is still
    /// open. Each step (opening the session, `MAIL FROM`, the rest of the message) is bounded by
    /// the configured timeout. Returns how long the data took, from its first byte to the
    /// server's `250`: from the moment its last byte is written, a crash no longer stops the
    /// message, so this is most of the window in which a crash leaves it delivered but not
    /// recorded.
    pub async fn send(&mut self, to: &[String], message: &[u8]) -> Result<Duration, DeliveryError> {
        let recipients = to
            .iter()
            .map(|a| crate::domain::Email::parse(a).map(|e| e.address().clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DeliveryError::Permanent(format!("bad recipient address: {e}")))?;
        let envelope = Envelope::new(Some(self.from.clone()), recipients)
            .map_err(|e| DeliveryError::Permanent(format!("bad envelope: {e}")))?;
        let reused = self.connection.is_some();
        let mut connection = match self.connection.take() {
            Some(kept) => kept,
            None => self.open().await?,
        };
        let mut result = self.transaction(&mut connection, &envelope, message).await;
        if reused && matches!(result, Err(Failure::Sender(_))) {
            // The server may have closed a kept session (an idle limit, a limit of messages
            // per session); nothing of this message was sent, so it goes on a new one.
            connection = self.open().await?;
            result = self.transaction(&mut connection, &envelope, message).await;
        }
        match result {
            Ok(data) => {
                self.connection = Some(connection);
                Ok(data)
            }
            Err(Failure::Sender(error)) => Err(self.server_error(error)),
            Err(Failure::Message(None)) => Err(DeliveryError::Transient(format!(
                "{}: no answer within {:?} during this message",
                self.server, self.timeout
            ))),
            Err(Failure::Message(Some(e))) => Err(self.classify(e)),
            Err(Failure::Unsupported(text)) => {
                Err(DeliveryError::Permanent(format!("{}: {text}", self.server)))
            }
        }
    }

    /// Ends the kept session politely, if there is one.
    pub async fn quit(&mut self) {
        if let Some(mut connection) = self.connection.take() {
            let _ = tokio::time::timeout(self.timeout, connection.command(Quit)).await;
        }
    }

    /// Opens a session: connection, greeting, EHLO, TLS, login. Any failure is the server's.
    async fn open(&self) -> Result<AsyncSmtpConnection, DeliveryError> {
        let opening = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| format!("Connection error: {e}"))?;
            tcp.set_nodelay(true)
                .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
            let text = |e: SmtpError| e.to_string();
            let mut connection = match &self.security {
                Security::Plain => {
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                        .await
                        .map_err(text)?
                }
                Security::Starttls(parameters) => {
                    let mut connection =
                        AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                            .await
                            .map_err(text)?;
                    connection
                        .starttls(parameters.clone(), &self.hello)
                        .await
                        .map_err(tls_failure)?;
                    connection
                }
                Security::Implicit(parameters) => {
                    let tls = ImplicitTls::wrap(tcp, parameters.clone())
                        .await
                        .map_err(tls_failure)?;
                    AsyncSmtpConnection::connect_with_transport(Box::new(tls), &self.hello)
                        .await
                        .map_err(text)?
                }
            };
            if let Some(credentials) = &self.credentials {
                connection
                    .auth(DEFAULT_MECHANISMS, credentials)
                    .await
                    .map_err(text)?;
            }
            Ok::<_, String>(connection)
        };
        match tokio::time::timeout(self.timeout, opening).await {
            Err(_) => Err(self.server_error(None)),
            Ok(Err(text)) => Err(DeliveryError::Server(format!("{}: {text}", self.server))),
            Ok(Ok(connection)) => Ok(connection),
        }
    }

    /// MAIL FROM, RCPT TO each recipient, DATA and the message; the connection is usable for
    /// the next message only when this succeeds.
    async fn transaction(
        &self,
        connection: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Duration, Failure> {
        // What lettre's own `send` adds for addresses and bodies that are not ASCII.
        let info = connection.server_info();
        let mut parameters = Vec::new();
        let mut addresses = envelope.from().into_iter().chain(envelope.to());
        if !addresses.all(|a: &Address| AsRef::<str>::as_ref(a).is_ascii()) {
            if !info.supports_feature(Extension::SmtpUtfEight) {
                return Err(Failure::Unsupported(
                    "a non-ASCII address, and the server does not offer SMTPUTF8".into(),
                ));
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !message.is_ascii() {
            if !info.supports_feature(Extension::EightBitMime) {
                return Err(Failure::Unsupported(
                    "a non-ASCII message, and the server does not offer 8BITMIME".into(),
                ));
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let mail = Mail::new(envelope.from().cloned(), parameters);
        step(self.timeout, connection.command(mail))
            .await
            .map_err(Failure::Sender)?;
        let rest = async {
            for recipient in envelope.to() {
                connection
                    .command(Rcpt::new(recipient.clone(), vec![]))
                    .await?;
            }
            connection.command(Data).await?;
            let data = std::time::Instant::now();
            connection.message(message).await?;
            Ok(data.elapsed())
        };
        step(self.timeout, rest).await.map_err(Failure::Message)
    }

    /// A failure of the server: `None` is no answer in time.
    fn server_error(&self, error: Option<SmtpError>) -> DeliveryError {
        match error {
            None => DeliveryError::Server(format!(
                "{}: no answer within {:?}",
                self.server, self.timeout
            )),
            Some(e) => self.classify(e),
        }
    }

    /// A refusal of the session is the server's; otherwise 5xx is permanent, 4xx temporary.
    fn classify(&self, e: SmtpError) -> DeliveryError {
        let text = format!("{}: {e}", self.server);
        if e.status()
            .is_none_or(|code| SERVER_REPLIES.contains(&u16::from(code)))
        {
            DeliveryError::Server(text)
        } else if e.is_permanent() {
            DeliveryError::Permanent(text)
        } else {
            DeliveryError::Transient(text)
        }
    }
}

/// A failed TLS handshake, with what to do when the cause is a common mistake.
fn tls_failure(e: SmtpError) -> String {
    let text = e.to_string();
    if text.contains("CaUsedAsEndEntity") {
        format!(
            "{text}: the server's certificate is a CA certificate (CA:TRUE, what `openssl req \
             -x509` makes by default), which TLS does not accept as a server's own; README, \
             Mail, shows how to make one that is"
        )
    } else {
        text
    }
}

/// `work` within `timeout`: `Err(None)` when it took longer.
async fn step<T>(
    timeout: Duration,
    work: impl Future<Output = Result<T, SmtpError>>,
) -> Result<T, Option<SmtpError>> {
    match tokio::time::timeout(timeout, work).await {
        Err(_) => Err(None),
        Ok(result) => result.map_err(Some),
    }
}

/// Implicit TLS on our own socket. lettre opens implicit TLS only on sockets it creates itself
/// (without `TCP_NODELAY`), but can upgrade a given one: its `AsyncNetworkStream`, deprecated
/// as a public type though still its only way to do so, does that, and this wraps the result
/// as the tokio stream `connect_with_transport` takes.
#[allow(deprecated)]
#[derive(Debug)]
struct ImplicitTls(AsyncNetworkStream);

#[allow(deprecated)]
impl ImplicitTls {
    async fn wrap(tcp: TcpStream, parameters: TlsParameters) -> Result<ImplicitTls, SmtpError> {
        let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
        stream.upgrade_tls(parameters).await?;
        Ok(ImplicitTls(stream))
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let read = ready!(futures_util::AsyncRead::poll_read(
            Pin::new(&mut self.0),
            cx,
            buf.initialize_unfilled()
        ))?;
        buf.advance(read);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        futures_util::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        futures_util::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        futures_util::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}
