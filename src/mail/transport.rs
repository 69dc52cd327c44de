//! SMTP delivery with lettre: TLS mode, an extra trusted CA, credentials from the environment
//! or a file, a pooled async transport, and a timeout around each whole send.

use crate::config::{SmtpSettings, TlsMode};
use anyhow::Context;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// Why a delivery failed: a permanent refusal is not retried; a failure of the server itself
/// is, and makes the rest of the pass pointless.
#[derive(Debug)]
pub enum DeliveryError {
    Permanent(String),
    Transient(String),
    /// Nothing about this message: the server could not be reached, did not answer in time,
    /// failed TLS, closed the service (421) or refused the login (454, 530, 534, 535, 538).
    Server(String),
}

/// Replies that refuse the session, not the message: service closing, and authentication.
const SERVER_REPLIES: [u16; 6] = [421, 454, 530, 534, 535, 538];

pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Address,
    timeout: Duration,
    /// host:port, for messages.
    server: String,
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

impl Smtp {
    pub fn new(settings: &SmtpSettings, from: &str) -> anyhow::Result<Smtp> {
        let from_address = from
            .rsplit_once('<')
            .map(|(_, rest)| rest.trim_end_matches('>'))
            .unwrap_or(from)
            .trim()
            .parse::<Address>()
            .with_context(|| format!("mail.from = {from:?} is not an email address"))?;
        let tls = || -> anyhow::Result<TlsParameters> {
            let mut builder = TlsParameters::builder(settings.host.clone());
            if !settings.ca_file.is_empty() {
                let pem = std::fs::read(&settings.ca_file)
                    .with_context(|| format!("smtp.ca_file: cannot read {}", settings.ca_file))?;
                let certificate = Certificate::from_pem(&pem).with_context(|| {
                    format!(
                        "smtp.ca_file: {} is not a PEM certificate",
                        settings.ca_file
                    )
                })?;
                builder = builder.add_root_certificate(certificate);
            }
            Ok(builder.build()?)
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str())
                .port(settings.port)
                .timeout(Some(Duration::from_secs(settings.timeout_secs)));
        builder = match settings.tls {
            TlsMode::None => builder.tls(Tls::None),
            TlsMode::Starttls => builder.tls(Tls::Required(tls()?)),
            TlsMode::Tls => builder.tls(Tls::Wrapper(tls()?)),
        };
        if !settings.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                settings.username.clone(),
                password(settings)?,
            ));
        }
        Ok(Smtp {
            transport: builder.build(),
            from: from_address,
            timeout: Duration::from_secs(settings.timeout_secs),
            server: format!("{}:{}", settings.host, settings.port),
        })
    }

    /// Sends one message to `to`; the whole exchange is bounded by the configured timeout.
    pub async fn send(&self, to: &[String], message: &[u8]) -> Result<(), DeliveryError> {
        let recipients = to
            .iter()
            .map(|a| crate::domain::Email::parse(a).map(|e| e.address().clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DeliveryError::Permanent(format!("bad recipient address: {e}")))?;
        let envelope = Envelope::new(Some(self.from.clone()), recipients)
            .map_err(|e| DeliveryError::Permanent(format!("bad envelope: {e}")))?;
        match tokio::time::timeout(self.timeout, self.transport.send_raw(&envelope, message)).await
        {
            Err(_) => Err(DeliveryError::Server(format!(
                "{}: no answer within {:?}",
                self.server, self.timeout
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e))
                if e.status()
                    .is_none_or(|code| SERVER_REPLIES.contains(&u16::from(code))) =>
            {
                Err(DeliveryError::Server(format!("{}: {e}", self.server)))
            }
            Ok(Err(e)) if e.is_permanent() => {
                Err(DeliveryError::Permanent(format!("{}: {e}", self.server)))
            }
            Ok(Err(e)) => Err(DeliveryError::Transient(format!("{}: {e}", self.server))),
        }
    }
}
