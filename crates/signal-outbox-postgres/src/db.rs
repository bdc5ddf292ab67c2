//! What every operation needs: the pool, the clock, the redacted target,
//! and row-reading helpers that turn bad stored values into typed errors.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Object, Pool};
use signal_outbox::OutboxError;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::clock::Clock;

/// The NOTIFY channel that wakes idle workers.
pub(crate) const CHANNEL: &str = "signal_outbox";

/// The longest delay or lease the database is asked to add to "now", so
/// the sum never overflows a `bigint` (about 290,000 years).
const MAX_DELAY_MS: i64 = i64::MAX / 1024;

pub(crate) struct Db {
    pub(crate) pool: Pool,
    pub(crate) clock: Clock,
    pub(crate) target: Arc<str>,
    pub(crate) dedup_window: Duration,
}

impl Db {
    /// A pooled connection.
    pub(crate) async fn conn(&self) -> Result<Object, OutboxError> {
        self.pool
            .get()
            .await
            .map_err(|e| crate::error::from_pool(&self.target, &e))
    }

    /// The value for `$1` ([`crate::clock::NOW`]).
    pub(crate) fn now(&self) -> Option<i64> {
        self.clock.param()
    }

    /// A driver error as the contract's.
    pub(crate) fn pg(&self, error: tokio_postgres::Error) -> OutboxError {
        crate::error::from_pg(&self.target, &error)
    }

    /// Column `index` of `row`.
    pub(crate) fn get<'r, T: FromSql<'r>>(
        &self,
        row: &'r Row,
        index: usize,
    ) -> Result<T, OutboxError> {
        row.try_get(index).map_err(|e| self.pg(e))
    }

    /// A non-negative stored count or number.
    pub(crate) fn count<T: TryFrom<i64>>(&self, row: &Row, index: usize) -> Result<T, OutboxError> {
        let value: i64 = self.get(row, index)?;
        T::try_from(value).map_err(|_| {
            crate::error::corrupt(
                &self.target,
                format!("column {index} holds {value}, out of range"),
            )
        })
    }

    /// A stored name parsed into its enum.
    pub(crate) fn parsed<T>(&self, row: &Row, index: usize) -> Result<T, OutboxError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let text: String = self.get(row, index)?;
        text.parse()
            .map_err(|e: T::Err| crate::error::corrupt(&self.target, e.to_string()))
    }

    /// A stored name parsed into its enum, when not NULL.
    pub(crate) fn parsed_opt<T>(&self, row: &Row, index: usize) -> Result<Option<T>, OutboxError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let text: Option<String> = self.get(row, index)?;
        text.map(|t| t.parse())
            .transpose()
            .map_err(|e: T::Err| crate::error::corrupt(&self.target, e.to_string()))
    }
}

/// A delay in milliseconds, bounded so `now + delay` fits.
pub(crate) fn delay_ms(delay: Duration) -> i64 {
    signal_outbox::duration_millis(delay).min(MAX_DELAY_MS)
}

/// A limit as PostgreSQL takes it.
pub(crate) fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
