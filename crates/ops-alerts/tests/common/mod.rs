//! Helpers shared by the integration tests: a configured fake Bot API, a
//! caller error type, and log capture.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loopback_fakes::telegram::FakeBotApi;
use ops_alerts::{AlertConfig, AlertableError};

/// The token of the redaction requirement; every test uses it, so every test
/// would notice a leak.
pub const TOKEN: &str = "123456:AAH-secret-token-value";
pub const SECRET_PART: &str = "AAH-secret-token-value";
pub const CHAT: i64 = 42;

/// A fake Bot API and a config pointing at it.
pub async fn fake() -> (FakeBotApi, AlertConfig) {
    let fake = FakeBotApi::start().await.unwrap();
    let config = config_for(&fake.api_url());
    (fake, config)
}

pub fn config_for(api_url: &str) -> AlertConfig {
    AlertConfig::new(TOKEN, &CHAT.to_string())
        .unwrap()
        .with_api_url(url::Url::parse(api_url).unwrap())
}

/// An address where nothing listens: connections are refused.
pub async fn refused_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A caller's error.
#[derive(Debug, Clone)]
pub struct Failure {
    pub class: String,
    pub text: String,
    pub security: bool,
    /// A failure of the server or the network.
    pub outage: bool,
}

impl Failure {
    pub fn new(class: &str, text: &str) -> Failure {
        Failure {
            class: class.to_owned(),
            text: text.to_owned(),
            security: false,
            outage: false,
        }
    }

    /// A failure of the server or the network, which opens an outage.
    pub fn outage(class: &str, text: &str) -> Failure {
        Failure {
            outage: true,
            ..Failure::new(class, text)
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AlertableError for Failure {
    fn error_class(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.class)
    }

    fn is_security_failure(&self) -> bool {
        self.security
    }

    fn opens_outage(&self) -> bool {
        self.outage
    }
}

/// Everything written by a tracing subscriber.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

thread_local! {
    /// The buffer of the test running on this thread, if it captures logs.
    static THREAD_LOG: std::cell::RefCell<Option<LogBuffer>> = const { std::cell::RefCell::new(None) };
}

/// Writes each event into the buffer of the thread that emitted it.
struct ThreadWriter;

impl io::Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        THREAD_LOG.with(|log| {
            if let Some(log) = log.borrow().as_ref() {
                log.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Stops capturing on this thread when dropped.
pub struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        THREAD_LOG.with(|log| log.borrow_mut().take());
    }
}

/// Captures every event at every level (dependencies' too) emitted on this
/// thread while the guard lives; tests run on a current-thread runtime, so
/// spawned tasks are captured as well.
///
/// One global subscriber routes events to per-thread buffers. A scoped
/// `set_default` subscriber per test is not reliable when tests run in
/// parallel: tracing caches each callsite's interest, and a callsite first
/// hit on a thread without a subscriber could be cached as disabled, losing
/// the event in another test (seen: one failure in a CI run).
pub fn capture_logs() -> (LogBuffer, CaptureGuard) {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadWriter)
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
    let buffer = LogBuffer::default();
    THREAD_LOG.with(|log| *log.borrow_mut() = Some(buffer.clone()));
    (buffer, CaptureGuard)
}

/// What Telegram shows of an HTML text: tags removed, entities decoded.
pub fn visible(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub const LONG: Duration = Duration::from_secs(3600);
