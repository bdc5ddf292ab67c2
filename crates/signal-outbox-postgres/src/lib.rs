//! The signal outbox on PostgreSQL: the `signal-outbox` contract for a
//! fleet of workers on several hosts sharing one database.
//!
//! ```no_run
//! use std::time::Duration;
//! use signal_outbox::{NewSignal, OutboxExt, SignalStore};
//! use signal_outbox_postgres::PgOutbox;
//!
//! # async fn demo() -> Result<(), signal_outbox::OutboxError> {
//! let outbox = PgOutbox::connect("postgres://outbox@db.internal/signals?sslrootcert=/etc/ssl/db-ca.pem").await?;
//! outbox.enqueue_one(NewSignal::new("sig-1", &b"{}"[..])).await?;
//! let claims = outbox.claim("host-a:123:1", 64, Duration::from_secs(30)).await?;
//! # let _ = claims;
//! # Ok(())
//! # }
//! ```
//!
//! # Why tokio-postgres (and deadpool), not sqlx
//!
//! - **No database at build time.** sqlx's checked queries need a live
//!   database or committed offline metadata (`.sqlx/`, regenerated after
//!   every query change) to compile; tokio-postgres prepares statements at
//!   run time, so a clean clone builds anywhere and the statements are
//!   still checked (by the tests, against a real server).
//! - **Few dependencies, one TLS stack.** tokio-postgres plus
//!   `tokio-postgres-rustls` is the driver and its rustls glue; sqlx brings
//!   its own runtime abstraction, macros and TLS feature matrix.
//! - **The pool is deadpool-postgres**: small, tokio-native, with a
//!   per-connection statement cache (`prepare_cached`), so the hot
//!   statements are parsed once per connection.
//! - `LISTEN` needs a session of its own: tokio-postgres exposes the
//!   connection's messages (`poll_message`), which is all the wake-up
//!   listener needs.
//!
//! # How it meets the contract
//!
//! - **Claims** are one statement ([`sql::CLAIM`]): the two halves (due
//!   pending rows, expired leases) read their partial indexes in order with
//!   `FOR UPDATE SKIP LOCKED`, so concurrent claimers take different rows
//!   without waiting, and the claim is its own short transaction: nothing
//!   is held across the HTTP call. Tokens come from a sequence; every
//!   outcome, extension and release is fenced by `id` and token.
//! - **Time is the database's**: every statement reads "now" as
//!   `COALESCE($1, now() in ms)` (see [`TestClock`]); the test hook binds
//!   `$1`, production binds NULL, and both run the same statements.
//! - **Wake-ups**: `NOTIFY` inside the transactions that make work due,
//!   `LISTEN` on a dedicated connection, exposed as
//!   [`SignalStore::wake_hints`](signal_outbox::SignalStore::wake_hints);
//!   polling stays the backstop.
//! - **Schema**: versioned migrations under an advisory lock, a minimum
//!   binary version per schema for rolling upgrades ([`MIGRATIONS`]).
//! - **Stats** stay cheap: exact counts of the small states through partial
//!   indexes, the large ones exact up to [`EXACT_COUNT_LIMIT`] and
//!   estimated beyond; no counter row that every delivery updates.
//! - **Alerts across the fleet**: one sender lease row, taken over only
//!   once expired; the pace and summaries come from stored send times.
//! - **TLS** through rustls with *ring* ([`SslMode`],
//!   [`install_crypto_provider`]); the password never appears in `Debug`,
//!   `Display`, errors or logs ([`redact_url`]).

mod admin;
mod alerts;
mod bot_state;
mod clock;
mod config;
mod db;
mod error;
mod notify;
mod outbox;
mod passfile;
mod record;
mod registry;
mod retention;
mod schema;
mod signals;
pub mod sql;
mod tls;
mod transfer;

pub use admin::EXACT_COUNT_LIMIT;
pub use clock::TestClock;
pub use config::{DEFAULT_CONNECT_TIMEOUT, PgConfig, redact_url};
pub use outbox::{DEFAULT_DEDUP_WINDOW, DEFAULT_POOL_SIZE, Migrate, PgOptions, PgOutbox};
pub use schema::{BINARY_VERSION, MIGRATIONS, Migration, MigrationReport, SCHEMA_VERSION, V1, V2};
pub use tls::{SslMode, install_crypto_provider};

// The README's examples run as doctests, so the crates.io page cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
