//! The connection's own thread: jobs in over a channel, answers out over
//! oneshots.
//!
//! SQLite calls are blocking file I/O with an fsync per commit. The one
//! connection lives on a thread of its own, so no async executor thread ever
//! blocks on it and the backend works from any executor. Jobs run one after
//! the other, which is what SQLite does anyway (one writer per file); other
//! processes on the same file have their own connections, serialised by the
//! IMMEDIATE transactions and the busy timeout.
//!
//! Waiting for an answer: inside a tokio runtime the wait runs on tokio's
//! blocking pool (a blocking receive in `spawn_blocking`). That costs one
//! thread hand-off per call (microseconds, next to a millisecond fsync), and
//! it is what tells tokio that work is in progress: with the paused test
//! clock, tokio advances time whenever every task waits on something it
//! does not know about, so leases and schedules driven by a clock that
//! follows tokio's would jump forward while SQLite writes. Outside a
//! runtime, the future simply awaits the oneshot.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use signal_outbox::{OutboxError, Timestamp};
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::diagnose::{Failure, Sql, classify, preflight};
use crate::schema;

/// One unit of work for the connection thread.
type Job = Box<dyn FnOnce(&mut Db) + Send>;

/// The connection and what every operation needs, owned by its thread.
pub(crate) struct Db {
    conn: Connection,
    clock: Arc<dyn Clock>,
    /// How long purged delivered ids stay recognised at enqueue.
    pub(crate) dedup_window: Duration,
    /// The path as the operator typed it, for messages.
    pub(crate) target: String,
}

impl Db {
    /// The backend's current time.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs `f` in one IMMEDIATE transaction with the time read once the
    /// write lock is held, and commits it if `f` succeeds.
    ///
    /// IMMEDIATE takes the write lock at BEGIN. With a deferred transaction
    /// a read-then-write could fail with SQLITE_BUSY at the upgrade, which
    /// the busy timeout does not retry, when another process writes
    /// meanwhile.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, Timestamp) -> Sql<T>,
    ) -> Sql<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = self.clock.now();
        let value = f(&tx, now)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` in a read transaction, so multi-query reads see one snapshot.
    pub(crate) fn read<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, Timestamp) -> Sql<T>,
    ) -> Sql<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        let now = self.clock.now();
        let value = f(&tx, now)?;
        tx.commit()?;
        Ok(value)
    }

    /// The raw connection (tests and diagnostics inside this crate).
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// How to open the connection.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) dedup_window: Duration,
    pub(crate) max_pages: Option<u32>,
}

/// Opens, configures and migrates the database at `path`.
pub(crate) fn open_db(path: &Path, settings: Settings) -> Result<Db, OutboxError> {
    let target = path.display().to_string();
    preflight(path)?;
    // No SQLITE_OPEN_URI: a path is a path, even if it starts with "file:".
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let setup = || -> Sql<Connection> {
        let mut conn = Connection::open_with_flags(path, flags)?;
        schema::configure(&conn, path, settings.max_pages)?;
        schema::migrate(&mut conn, path, settings.clock.now())?;
        Ok(conn)
    };
    let conn = setup().map_err(|failure| classify(&target, failure))?;
    Ok(Db {
        conn,
        clock: settings.clock,
        dedup_window: settings.dedup_window,
        target,
    })
}

/// The handle on the connection thread: sends it jobs, and on drop closes
/// the channel and waits for the thread (so the file is closed when the
/// outbox is dropped).
pub(crate) struct Connector {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Connector {
    /// Starts the thread and opens the database on it; returns once the
    /// database is open (or could not be).
    pub(crate) fn start(path: &Path, settings: Settings) -> Result<Connector, OutboxError> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), OutboxError>>();
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let path: PathBuf = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("signal-outbox-sqlite".to_owned())
            .spawn(move || {
                let mut db = match open_db(&path, settings) {
                    Ok(db) => db,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                for job in jobs_rx {
                    // A panicking job (a bug) must not take the connection
                    // down with it: its transaction rolls back as it unwinds,
                    // its caller sees the answer channel close, and the next
                    // job runs as usual.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut db)));
                }
            })
            .map_err(|error| OutboxError::Internal {
                detail: format!("cannot start the SQLite thread: {error}"),
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Connector {
                jobs: Some(jobs_tx),
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                let _ = thread.join();
                Err(OutboxError::Internal {
                    detail: "the SQLite thread stopped while opening the database".to_owned(),
                })
            }
        }
    }

    /// Runs `job` on the connection thread and waits for its answer.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Db) -> Sql<T> + Send + 'static,
    ) -> Result<T, OutboxError> {
        let (answer_tx, answer_rx) = oneshot::channel();
        let job: Job = Box::new(move |db: &mut Db| {
            let answer = job(db).map_err(|failure: Failure| classify(&db.target, failure));
            let _ = answer_tx.send(answer);
        });
        let sent = self.jobs.as_ref().map(|jobs| jobs.send(job));
        if !matches!(sent, Some(Ok(()))) {
            return Err(stopped());
        }
        let answer = if tokio::runtime::Handle::try_current().is_ok() {
            tokio::task::spawn_blocking(move || answer_rx.blocking_recv())
                .await
                .map_err(|error| OutboxError::Internal {
                    detail: format!("waiting for the SQLite thread failed: {error}"),
                })?
        } else {
            answer_rx.await
        };
        answer.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> OutboxError {
    OutboxError::Internal {
        detail: "the SQLite thread stopped before answering (a bug: see the log)".to_owned(),
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop after the job in hand.
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
