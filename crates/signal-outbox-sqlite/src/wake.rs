//! Wake-up hints between processes sharing one SQLite file: SQLite has no
//! `NOTIFY`, so each subscribed worker binds a Unix datagram socket in a
//! directory beside the database (`<file>.wake/`), and every commit that
//! makes work due now (an enqueue, a replay, an import, a release) sends a
//! one-byte datagram to each socket there, after the commit.
//!
//! Why datagrams in a directory: no process must run as a broker, any
//! number of workers may listen, a sender never blocks (non-blocking
//! `send_to`; a full buffer means a wake-up is already queued), and a
//! socket left by a killed worker is found by the refused send and removed.
//! A Unix socket path is limited to 108 bytes: when `<file>.wake/...` is
//! longer, or the directory cannot be made, there are no hints and the
//! worker polls as before (said once at DEBUG). Polling stays the backstop
//! in every case.

use std::fmt;
use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram as StdDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use signal_outbox::{BoxFuture, WakeHints};

/// `sun_path` holds 108 bytes, the terminating NUL included.
const MAX_SOCKET_PATH: usize = 107;

/// The wake-up directory of one database file.
#[derive(Debug, Clone)]
pub(crate) struct WakeDir {
    dir: PathBuf,
}

impl WakeDir {
    /// The directory beside `db`: `<db>.wake`.
    pub(crate) fn beside(db: &Path) -> WakeDir {
        let mut dir = db.as_os_str().to_owned();
        dir.push(".wake");
        WakeDir {
            dir: PathBuf::from(dir),
        }
    }

    /// Wakes every subscribed worker: one datagram per socket; a socket
    /// nobody listens on any more (its worker was killed) is removed.
    pub(crate) fn notify(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let Ok(sender) = StdDatagram::unbound() else {
            return;
        };
        if sender.set_nonblocking(true).is_err() {
            return;
        }
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != "sock") {
                continue;
            }
            match sender.send_to(b"w", &path) {
                Ok(_) => {}
                // Its buffer is full: a wake-up is already waiting there.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e)
                    if matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::NotFound) =>
                {
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => {
                    tracing::debug!(socket = %path.display(), error = %e, "wake-up datagram not sent");
                }
            }
        }
    }

    /// A subscription, or `None` (then the worker polls): outside a tokio
    /// runtime, when the directory cannot be made, or when the socket path
    /// would be too long.
    pub(crate) fn subscribe(&self) -> Option<Box<dyn WakeHints>> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let name = format!(
            "{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.dir.join(name);
        if path.as_os_str().len() > MAX_SOCKET_PATH {
            tracing::debug!(
                dir = %self.dir.display(),
                "wake-up socket path longer than 107 bytes: no hints, the worker polls"
            );
            return None;
        }
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            tracing::debug!(dir = %self.dir.display(), error = %e, "no wake-up directory: the worker polls");
            return None;
        }
        let _ = std::fs::remove_file(&path);
        let bound = StdDatagram::bind(&path)
            .and_then(|socket| socket.set_nonblocking(true).map(|()| socket))
            .and_then(|socket| {
                let _guard = handle.enter();
                tokio::net::UnixDatagram::from_std(socket)
            });
        match bound {
            Ok(socket) => Some(Box::new(DatagramHints {
                socket,
                path,
                broken: false,
            })),
            Err(e) => {
                tracing::debug!(socket = %path.display(), error = %e, "cannot bind the wake-up socket: the worker polls");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }
}

/// One worker's socket; removed when the subscription is dropped.
struct DatagramHints {
    socket: tokio::net::UnixDatagram,
    path: PathBuf,
    /// The socket failed once: from then on, no hints (polling), rather
    /// than an error returned at once on every wait, which would spin.
    broken: bool,
}

impl fmt::Debug for DatagramHints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramHints")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WakeHints for DatagramHints {
    fn next(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.broken {
                return std::future::pending().await;
            }
            let mut buf = [0_u8; 16];
            match self.socket.recv(&mut buf).await {
                // Several hints between two waits count as one.
                Ok(_) => while self.socket.try_recv(&mut buf).is_ok() {},
                Err(e) => {
                    tracing::warn!(socket = %self.path.display(), error = %e, "the wake-up socket failed: the worker polls from now on");
                    self.broken = true;
                }
            }
        })
    }
}

impl Drop for DatagramHints {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
