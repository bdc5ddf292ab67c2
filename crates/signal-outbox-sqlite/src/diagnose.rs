//! Turning path problems and SQLite error codes into actionable errors.
//!
//! SQLite reports a bad path as a bare "unable to open database file" and a
//! garbage file only at the first statement, as "file is not a database".
//! Checking the path ourselves first, and classifying the codes afterwards,
//! lets start-up say which path is wrong, what is wrong with it and what to
//! do about it.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use rusqlite::ErrorCode;

use crate::error::OutboxError;

/// Checks, before SQLite touches anything, that `path` can hold a database
/// file: not empty, not a directory, and inside an existing directory. The
/// parent is deliberately not created: a typo in `OUTBOX_PATH` should fail
/// loudly, not start a second, empty outbox somewhere unexpected.
pub(crate) fn preflight(path: &Path) -> Result<(), OutboxError> {
    let open_error = |reason: String, hint: &'static str| OutboxError::Open {
        path: path.to_path_buf(),
        reason,
        hint,
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
        Err(err) if err.kind() == ErrorKind::NotFound => {}
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

/// Reclassifies an error from SQLite with the path it concerns: corruption
/// becomes [`OutboxError::Corrupt`], an unopenable or read-only file becomes
/// [`OutboxError::Open`]; everything else is returned unchanged.
pub(crate) fn classify(path: &Path, err: OutboxError) -> OutboxError {
    let OutboxError::Sqlite(sqlite) = err else {
        return err;
    };
    match &sqlite {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => OutboxError::Corrupt {
                path: path.to_path_buf(),
                detail: sqlite.to_string(),
            },
            ErrorCode::CannotOpen | ErrorCode::PermissionDenied => OutboxError::Open {
                path: path.to_path_buf(),
                reason: format!("SQLite cannot open it: {sqlite}"),
                hint: "check that the file and its directory exist and are writable by this user",
            },
            ErrorCode::ReadOnly => OutboxError::Open {
                path: path.to_path_buf(),
                reason: format!("the database is read-only: {sqlite}"),
                hint: "make the file, its directory (for the -wal and -shm files) and the filesystem writable",
            },
            _ => OutboxError::Sqlite(sqlite),
        },
        // A stored value this crate never writes (an unknown state, a
        // negative attempt count, a wrong type): the file was altered.
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => OutboxError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("unexpected stored value: {sqlite}"),
        },
        _ => OutboxError::Sqlite(sqlite),
    }
}
