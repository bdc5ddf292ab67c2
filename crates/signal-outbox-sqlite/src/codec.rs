//! Reading the contract's enums (stored as their text names) and counts out
//! of rows.
//!
//! Text rather than small integers so that the database is readable with
//! the `sqlite3` shell during an incident, and the `CHECK` constraints in
//! the schema list the same names. Writing is `value.as_str()`; reading
//! parses, and a name this build does not know is a conversion failure,
//! which [`crate::diagnose::classify`] reports as a corrupt file.

use std::str::FromStr;
use std::time::Duration;

use rusqlite::Row;
use rusqlite::types::Type;

/// Column `index` parsed from its text name.
pub(crate) fn parsed<T>(row: &Row<'_>, index: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(index)?;
    text.parse().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(error))
    })
}

/// Column `index` parsed from its text name, when not NULL.
pub(crate) fn parsed_opt<T>(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: Option<String> = row.get(index)?;
    text.map(|text| {
        text.parse().map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(error))
        })
    })
    .transpose()
}

/// A count or length, which SQLite returns as `i64` and is never negative
/// (the schema checks it).
pub(crate) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A limit as SQLite takes it.
pub(crate) fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A stored millisecond duration.
pub(crate) fn millis(value: i64) -> Duration {
    Duration::from_millis(count(value))
}
