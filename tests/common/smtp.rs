//! A real SMTP server for tests: Python's aiosmtpd on a free loopback port, storing what it
//! receives in a maildir that the test reads back. Stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

/// A received message: its envelope recipients and the raw message.
pub struct Received {
    pub rcpt_to: Vec<String>,
    pub raw: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("a parseable message")
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpServer {
    /// A plain SMTP server.
    pub fn start() -> SmtpServer {
        SmtpServer::start_on(free_port(), None)
    }

    /// A server offering STARTTLS with the given certificate and key (and requiring it).
    pub fn start_tls(cert: &Path, key: &Path) -> SmtpServer {
        SmtpServer::start_on(free_port(), Some((cert, key)))
    }

    pub fn start_on(port: u16, tls: Option<(&Path, &Path)>) -> SmtpServer {
        SmtpServer::spawn(port, |mailbox| {
            let mut cmd = Command::new("python3");
            cmd.args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ]);
            if let Some((cert, key)) = tls {
                cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
            }
            cmd.arg(mailbox);
            cmd
        })
    }

    /// A server that offers AUTH on a plain connection and refuses every login (535).
    pub fn start_refusing_logins() -> SmtpServer {
        const SCRIPT: &str = r#"
import sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

class Accept:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"

def refuse(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False, handled=False)

controller = Controller(Accept(), hostname="127.0.0.1", port=int(sys.argv[1]),
                        authenticator=refuse, auth_require_tls=False)
controller.start()
while True:
    time.sleep(60)
"#;
        let port = free_port();
        SmtpServer::spawn(port, |_| {
            let mut cmd = Command::new("python3");
            cmd.args(["-c", SCRIPT, &port.to_string()]);
            cmd
        })
    }

    /// A server that stores every message in the maildir except those to `stalled`: it never
    /// answers the end of their data.
    pub fn start_stalling(stalled: &str) -> SmtpServer {
        const SCRIPT: &str = r#"
import asyncio, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

class Stalling(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        if sys.argv[3] in envelope.rcpt_tos:
            await asyncio.sleep(3600)
        return await super().handle_DATA(server, session, envelope)

controller = Controller(Stalling(sys.argv[2]), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
while True:
    time.sleep(60)
"#;
        let port = free_port();
        SmtpServer::spawn(port, |mailbox| {
            let mut cmd = Command::new("python3");
            cmd.args(["-c", SCRIPT, &port.to_string()])
                .arg(mailbox)
                .arg(stalled);
            cmd
        })
    }

    /// A server speaking implicit TLS (SMTPS) with the given certificate and key.
    pub fn start_implicit_tls(cert: &Path, key: &Path) -> SmtpServer {
        const SCRIPT: &str = r#"
import ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(sys.argv[3], sys.argv[4])
controller = Controller(Mailbox(sys.argv[2]), hostname="127.0.0.1", port=int(sys.argv[1]),
                        ssl_context=context)
controller.start()
while True:
    time.sleep(60)
"#;
        let port = free_port();
        SmtpServer::spawn(port, |mailbox| {
            let mut cmd = Command::new("python3");
            cmd.args(["-c", SCRIPT, &port.to_string()])
                .arg(mailbox)
                .arg(cert)
                .arg(key);
            cmd
        })
    }

    /// Starts the server `command(mailbox)` makes, and waits until it listens on `port`.
    fn spawn(port: u16, command: impl FnOnce(&Path) -> Command) -> SmtpServer {
        let maildir = tempfile::tempdir().unwrap();
        let child = command(&maildir.path().join("box"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd) is needed for the mail tests");
        let server = SmtpServer {
            child,
            port,
            maildir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn new_dir(&self) -> PathBuf {
        self.maildir.path().join("box").join("new")
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        let Ok(entries) = std::fs::read_dir(self.new_dir()) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .map(|e| e.unwrap().path())
            .map(|p| (std::fs::metadata(&p).unwrap().modified().unwrap(), p))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, path)| {
                let raw = std::fs::read(&path).unwrap();
                let rcpt_to = String::from_utf8_lossy(&raw)
                    .lines()
                    .find_map(|l| l.strip_prefix("X-RcptTo: ").map(str::to_string))
                    .map(|l| l.split(", ").map(str::to_string).collect())
                    .unwrap_or_default();
                Received { rcpt_to, raw }
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for `localhost` (openssl), as (cert.pem, key.pem) in `dir`: a
/// server certificate (CA:FALSE), the kind README's Mail section tells how to make.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    openssl_req_x509(
        dir,
        &[
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ],
    )
}

/// What `openssl req -x509` makes by default: a self-signed certificate for `localhost` that is
/// also a CA (CA:TRUE), as (cert.pem, key.pem) in `dir`.
pub fn self_signed_ca_cert(dir: &Path) -> (PathBuf, PathBuf) {
    openssl_req_x509(dir, &[])
}

fn openssl_req_x509(dir: &Path, extensions: &[&str]) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .args(extensions)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    (cert, key)
}
