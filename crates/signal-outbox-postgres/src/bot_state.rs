//! The ops-command poller's Bot API update offset: one row, written only by
//! the sender lease's holder (checked in the same transaction, the lease
//! row held shared so a takeover waits), never moving backwards.

use signal_outbox::{OutboxError, SenderLease};

use crate::alerts::check_sender;
use crate::db::Db;

pub(crate) async fn bot_offset(db: &Db) -> Result<Option<i64>, OutboxError> {
    let conn = db.conn().await?;
    let row = conn
        .query_opt("SELECT update_offset FROM bot_state WHERE id = 1", &[])
        .await
        .map_err(|e| db.pg(e))?;
    match row {
        Some(row) => Ok(Some(db.get(&row, 0)?)),
        None => Ok(None),
    }
}

pub(crate) async fn set_bot_offset(
    db: &Db,
    lease: SenderLease,
    offset: i64,
) -> Result<(), OutboxError> {
    if offset < 0 {
        return Err(OutboxError::InvalidInput {
            reason: format!("a Bot API update offset is at least 0, not {offset}"),
        });
    }
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    check_sender(db, &tx, &lease, true).await?;
    // GREATEST: a late write of an older offset must not make the poller
    // fetch (and act on) updates already handled.
    tx.execute(
        "INSERT INTO bot_state (id, update_offset) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET update_offset = GREATEST(bot_state.update_offset, excluded.update_offset)",
        &[&offset],
    )
    .await
    .map_err(|e| db.pg(e))?;
    tx.commit().await.map_err(|e| db.pg(e))
}
