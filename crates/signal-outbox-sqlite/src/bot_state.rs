//! The ops-command poller's Bot API update offset: one row, written only by
//! the sender lease's holder, never moving backwards.

use rusqlite::OptionalExtension;
use signal_outbox::{OutboxError, SenderLease};

use crate::alerts::check_sender;
use crate::diagnose::Sql;
use crate::thread::Db;

pub(crate) fn bot_offset(db: &mut Db) -> Sql<Option<i64>> {
    db.read(|tx, _| {
        Ok(tx
            .prepare_cached("SELECT update_offset FROM bot_state WHERE id = 1")?
            .query_row([], |row| row.get(0))
            .optional()?)
    })
}

pub(crate) fn set_bot_offset(db: &mut Db, lease: SenderLease, offset: i64) -> Sql<()> {
    if offset < 0 {
        return Err(OutboxError::InvalidInput {
            reason: format!("a Bot API update offset is at least 0, not {offset}"),
        }
        .into());
    }
    db.write(|tx, _| {
        check_sender(tx, &lease)?;
        // max(): a late write of an older offset must not make the poller
        // fetch (and act on) updates already handled.
        tx.prepare_cached(
            "INSERT INTO bot_state (id, update_offset) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET update_offset = max(update_offset, excluded.update_offset)",
        )?
        .execute([offset])?;
        Ok(())
    })
}
