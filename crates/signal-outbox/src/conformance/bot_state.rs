//! The ops-command poller's update offset: durable across restarts, fenced
//! by the sender lease, never moving backwards.

use crate::AlertStore as _;
use std::time::Duration;

use super::{TestBackend, ms};
use crate::OutboxError;

/// The offset starts unset, survives a restart, never goes back, and only
/// the sender lease's holder may write it.
pub async fn the_bot_offset_survives_a_restart_and_is_fenced<B: TestBackend>() {
    let b = B::fresh().await;
    assert_eq!(b.store().bot_offset().await.unwrap(), None);
    let old = b
        .store()
        .acquire_sender("w1", Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    b.store().set_bot_offset(&old, 41).await.unwrap();
    b.store().set_bot_offset(&old, 7).await.unwrap();
    assert_eq!(
        b.store().bot_offset().await.unwrap(),
        Some(41),
        "a late, older offset must not make handled updates come again"
    );
    assert!(matches!(
        b.store().set_bot_offset(&old, -1).await,
        Err(OutboxError::InvalidInput { .. })
    ));

    let b = b.restart().await;
    assert_eq!(b.store().bot_offset().await.unwrap(), Some(41));

    b.advance(ms(10_000)).await;
    let new = b
        .store()
        .acquire_sender("w2", Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    let err = b.store().set_bot_offset(&old, 99).await.unwrap_err();
    assert!(
        matches!(&err, OutboxError::SenderFenced { holder: Some(h) } if h == "w2"),
        "{err:?}"
    );
    assert_eq!(b.store().bot_offset().await.unwrap(), Some(41));
    b.store().set_bot_offset(&new, 42).await.unwrap();
    let other = b.second().await;
    assert_eq!(other.bot_offset().await.unwrap(), Some(42));
}
