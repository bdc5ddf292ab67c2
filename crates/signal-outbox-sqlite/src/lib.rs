//! The signal outbox on embedded SQLite: the `signal-outbox` contract on
//! one file, for one host.
//!
//! # Why SQLite, and why rusqlite
//!
//! - **Embedded:** no server to run, secure or keep up; the outbox is one
//!   file (plus `-wal`/`-shm`) next to the service, and the bundled SQLite
//!   build means no system library version to depend on.
//! - **WAL mode:** commits append to a log, and readers (`outbox stats`) do
//!   not block the writer. `synchronous=FULL` makes each commit survive
//!   power loss; group commit (batches) amortises that fsync.
//! - **rusqlite rather than sqlx:** SQLite calls are blocking file I/O either
//!   way; rusqlite says so honestly, with no compile-time query macros or
//!   offline query metadata, and far fewer dependencies. The connection
//!   lives on a thread of its own, which is what makes the async contract
//!   honest: no executor thread ever blocks on an fsync.
//!
//! # Time
//!
//! Every time this backend stores or compares comes from its [`Clock`],
//! read on the connection thread once per transaction: the host's wall
//! clock by default, a [`ManualClock`] in tests (the conformance suite's
//! hook), or any clock of the caller's.
//!
//! # Schema versions
//!
//! v1 is the layout of the first outbox release; v2 (this build,
//! [`SCHEMA_VERSION`]) adds claim tokens, dead-letter times, the attempt
//! log, durable alerts, the ledger, the sender lease, the audit table,
//! worker heartbeats and purge tombstones. Opening a v1 file upgrades it in
//! place, pending rows included, in one transaction ([`MIGRATION_V2`]).
//!
//! # Throughput
//!
//! With `synchronous=FULL` every commit costs an fsync, so the contract is
//! batch first. `examples/enqueue_throughput.rs` measures enqueue and the
//! claim-and-record loop.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use signal_outbox::{AttemptRecord, EnqueueOutcome, NewSignal, OutboxAdmin, OutboxExt, Outcome, SignalStore, State};
//! use signal_outbox_sqlite::{ManualClock, SqliteOutbox};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let clock = ManualClock::new(1_700_000_000_000);
//! let outbox = SqliteOutbox::open_with_clock(&dir.path().join("outbox.db"), Arc::new(clock.clone()))?;
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! runtime.block_on(async {
//!     let body = &br#"{"symbol":"BTCUSD","side":"buy"}"#[..];
//!     let outcome = outbox.enqueue_one(NewSignal::new("sig-1", body)).await?;
//!     assert_eq!(outcome, EnqueueOutcome::Inserted); // durable: acknowledge now
//!
//!     let claims = outbox.claim("worker-a", 10, Duration::from_secs(30)).await?;
//!     assert_eq!(claims.now, 1_700_000_000_000); // the backend's clock
//!     let row = &claims.rows[0];
//!     assert_eq!(&row.body[..], body);
//!
//!     // ... deliver row.body with webhook-id = row.id ...
//!     clock.advance(Duration::from_millis(120));
//!     let attempt = AttemptRecord::delivered(1, 200, Duration::from_millis(120));
//!     outbox.record_one("worker-a", Outcome::Delivered { id: row.id.clone(), token: row.token, attempt }).await?;
//!
//!     let stats = outbox.stats().await?;
//!     assert_eq!((stats.delivered, stats.pending), (1, 0));
//!     assert_eq!(outbox.get("sig-1").await?.map(|row| row.state), Some(State::Delivered));
//!     Ok::<_, signal_outbox::OutboxError>(())
//! })?;
//! # Ok(())
//! # }
//! ```

mod admin;
mod alerts;
mod bot_state;
mod clock;
mod codec;
mod diagnose;
mod outbox;
mod record;
mod registry;
mod retention;
mod schema;
mod signals;
mod thread;
mod transfer;
#[cfg(unix)]
mod wake;

pub use clock::{Clock, ManualClock, SystemClock};
pub use outbox::{DEFAULT_DEDUP_WINDOW, SqliteOptions, SqliteOutbox};
pub use schema::{MIGRATION_V2, MIGRATION_V3, SCHEMA_V1, SCHEMA_VERSION};

// The README's examples run as doctests, so the crates.io page cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
