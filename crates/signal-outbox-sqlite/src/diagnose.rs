//! Turning path problems and SQLite error codes into actionable errors.
//!
//! SQLite reports a bad path as a bare "unable to open database file" and a
//! garbage file only at the first statement, as "file is not a database".
//! Checking the path ourselves first, and classifying the codes afterwards,
//! lets start-up say which path is wrong, what is wrong with it and what to
//! do about it; and a full disk or an I/O error becomes
//! [`OutboxError::Full`] / [`OutboxError::Io`], which say that nothing was
//! stored.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use rusqlite::ErrorCode;
use signal_outbox::OutboxError;

/// What the outbox tells an operator to do with a damaged file.
pub(crate) const CORRUPT_HINT: &str = "stop every process using it, then restore it from a backup \
     or move it aside (and its -wal and -shm files) so an empty outbox is created; signals still \
     pending in the damaged file must be re-enqueued";

/// A failure inside the connection thread, before it is classified.
#[derive(Debug)]
pub(crate) enum Failure {
    /// SQLite (or rusqlite) failed.
    Sql(rusqlite::Error),
    /// A contract error decided by this crate.
    Outbox(OutboxError),
}

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Failure {
        Failure::Sql(error)
    }
}

impl From<OutboxError> for Failure {
    fn from(error: OutboxError) -> Failure {
        Failure::Outbox(error)
    }
}

/// A result inside the connection thread.
pub(crate) type Sql<T> = Result<T, Failure>;

/// Checks, before SQLite touches anything, that `path` can hold a database
/// file: not empty, not a directory, and inside an existing directory. The
/// parent is deliberately not created: a typo in `OUTBOX_PATH` should fail
/// loudly, not start a second, empty outbox somewhere unexpected.
pub(crate) fn preflight(path: &Path) -> Result<(), OutboxError> {
    let open_error = |reason: String, hint: &str| OutboxError::Open {
        target: path.display().to_string(),
        reason,
        hint: hint.to_owned(),
    };
    if path.as_os_str().is_empty() {
        return Err(open_error(
            "the path is empty".to_owned(),
            "set OUTBOX_PATH to a file path such as ./signal-outbox.db",
        ));
    }
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(open_error(
                "it is a directory, not a database file".to_owned(),
                "set OUTBOX_PATH to a file inside it, such as <dir>/signal-outbox.db",
            ));
        }
        Ok(_) => return Ok(()),
        // Another reason (for example "not a directory" when a parent is a
        // regular file): fall through and let the parent check name it.
        Err(_) => {}
    }
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match fs::metadata(parent) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(open_error(
            format!("its parent {} is a file, not a directory", parent.display()),
            "fix OUTBOX_PATH so that it points into a directory",
        )),
        Err(err) if err.kind() == ErrorKind::NotFound => Err(open_error(
            format!("the directory {} does not exist", parent.display()),
            "create the directory (mkdir -p) or fix OUTBOX_PATH",
        )),
        Err(err) => Err(open_error(
            format!(
                "its directory {} cannot be inspected: {err}",
                parent.display()
            ),
            "check the path and its permissions, or fix OUTBOX_PATH",
        )),
    }
}

/// The contract error for a failure on the outbox at `target`.
///
/// Corruption becomes [`OutboxError::Corrupt`]; an unopenable or read-only
/// file [`OutboxError::Open`]; a full disk (or a full `max_page_count`)
/// [`OutboxError::Full`]; an I/O error [`OutboxError::Io`]; a lock held
/// beyond the busy timeout [`OutboxError::Unavailable`]; anything else, a
/// bug, [`OutboxError::Internal`].
pub(crate) fn classify(target: &str, failure: Failure) -> OutboxError {
    let sqlite = match failure {
        Failure::Outbox(error) => return error,
        Failure::Sql(sqlite) => sqlite,
    };
    let target = target.to_owned();
    let detail = sqlite.to_string();
    match &sqlite {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => OutboxError::Corrupt {
                target,
                detail: format!("it is not a SQLite database or is damaged: {detail}"),
                hint: CORRUPT_HINT.to_owned(),
            },
            ErrorCode::CannotOpen | ErrorCode::PermissionDenied => OutboxError::Open {
                target,
                reason: format!("SQLite cannot open it: {detail}"),
                hint: "check that the file and its directory exist and are writable by this user"
                    .to_owned(),
            },
            ErrorCode::ReadOnly => OutboxError::Open {
                target,
                reason: format!("the database is read-only: {detail}"),
                hint: "make the file, its directory (for the -wal and -shm files) and the \
                       filesystem writable"
                    .to_owned(),
            },
            ErrorCode::DiskFull => OutboxError::Full { target, detail },
            ErrorCode::SystemIoFailure => OutboxError::Io { target, detail },
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                OutboxError::Unavailable { target, detail }
            }
            _ => OutboxError::Internal {
                detail: format!("SQLite failed on {target}: {detail}"),
            },
        },
        // A stored value this crate never writes (an unknown state, a
        // negative count, a wrong type): the file was altered.
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => OutboxError::Corrupt {
            target,
            detail: format!("unexpected stored value: {detail}"),
            hint: CORRUPT_HINT.to_owned(),
        },
        _ => OutboxError::Internal {
            detail: format!("SQLite failed on {target}: {detail}"),
        },
    }
}
