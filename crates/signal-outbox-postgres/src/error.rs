//! Driver errors as [`OutboxError`]s: no `tokio_postgres` type crosses the
//! contract, and no message carries a password (the target is always the
//! redacted URL, and the driver's own texts name no secret).

use signal_outbox::OutboxError;

/// The driver error with its causes, e.g. "error connecting to server:
/// Connection refused (os error 111)".
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A failed statement or connection, classified by its SQLSTATE.
pub(crate) fn from_pg(target: &str, error: &tokio_postgres::Error) -> OutboxError {
    let target = target.to_owned();
    let Some(db) = error.as_db_error() else {
        // No answer from the server: the connection failed, closed or timed out.
        return OutboxError::Unavailable {
            target,
            detail: chain(error),
        };
    };
    let code = db.code().code();
    let detail = format!("{} (SQLSTATE {code})", db.message());
    match code {
        // disk_full, and the quota-like program_limit_exceeded on space.
        "53100" => OutboxError::Full { target, detail },
        "58030" => OutboxError::Io { target, detail },
        // out of memory, too many connections, serialization failure,
        // deadlock, lock not available, query canceled (statement timeout),
        // admin shutdown, crash shutdown, cannot connect now, read-only
        // (a standby or a failover in progress).
        "53200" | "53300" | "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03"
        | "25006" => OutboxError::Unavailable { target, detail },
        c if c.starts_with("08") => OutboxError::Unavailable { target, detail },
        "28P01" | "28000" => OutboxError::Open {
            target,
            reason: format!("the server refused the credentials: {detail}"),
            hint: "check the user and the password (in OUTBOX_URL, PGPASSWORD or the passfile)"
                .to_owned(),
        },
        "3D000" => OutboxError::Open {
            target,
            reason: detail,
            hint: "create the database (createdb) or fix its name in the URL".to_owned(),
        },
        "42501" => OutboxError::Open {
            target,
            reason: format!("permission denied: {detail}"),
            hint: "grant the outbox's user rights on its schema and tables, or connect as \
                   their owner"
                .to_owned(),
        },
        c if c.starts_with("XX") => OutboxError::Corrupt {
            target,
            detail,
            hint: "check the server's log; restore from a backup if the damage is real".to_owned(),
        },
        _ => OutboxError::Internal {
            detail: format!("PostgreSQL error on {target}: {detail}"),
        },
    }
}

/// A pool failure: no connection could be had.
pub(crate) fn from_pool(target: &str, error: &deadpool_postgres::PoolError) -> OutboxError {
    match error {
        deadpool_postgres::PoolError::Backend(pg) => from_pg(target, pg),
        other => OutboxError::Unavailable {
            target: target.to_owned(),
            detail: format!("no database connection: {}", chain(other)),
        },
    }
}

/// A stored value this build cannot read (a state name it does not know,
/// a negative count): the schema's checks should make this impossible.
pub(crate) fn corrupt(target: &str, detail: impl Into<String>) -> OutboxError {
    OutboxError::Corrupt {
        target: target.to_owned(),
        detail: detail.into(),
        hint: "a row breaks the outbox's rules; check who else writes to these tables".to_owned(),
    }
}
