//! `LISTEN`/`NOTIFY` wake-ups for idle workers.
//!
//! Enqueue, replay, and outcomes that make a row due at once send
//! `NOTIFY signal_outbox` inside their transaction, so the hint is sent at
//! commit and never before the rows are visible. One dedicated connection
//! per outbox handle listens (a pooled connection cannot: `LISTEN` belongs
//! to a session, which is also why it does not work through a pgbouncer in
//! transaction mode) and bumps a counter that every subscription watches.
//!
//! The listener starts with the first subscription, so operator commands
//! that never wait for work open no extra connection. When its connection
//! fails it reconnects with a growing pause (1 s to 30 s) and, once
//! listening again, wakes every subscriber once: hints sent meanwhile were
//! lost, and a spurious claim is cheaper than a missed poll interval.

use std::time::Duration;

use signal_outbox::{BoxFuture, WakeHints};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::db::CHANNEL;

/// The listening task of one outbox handle; stopped when dropped.
#[derive(Debug)]
pub(crate) struct Listener {
    hints: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Starts listening on its own connection (needs a tokio runtime).
    pub(crate) fn start(
        pg: tokio_postgres::Config,
        tls: MakeRustlsConnect,
        target: String,
    ) -> Listener {
        let (hints, _) = watch::channel(0u64);
        let task = tokio::spawn(listen(pg, tls, hints.clone(), target));
        Listener { hints, task }
    }

    /// A new subscription: hints from now on.
    pub(crate) fn subscribe(&self) -> Box<dyn WakeHints> {
        Box::new(Subscription {
            hints: self.hints.subscribe(),
        })
    }
}

#[derive(Debug)]
struct Subscription {
    hints: watch::Receiver<u64>,
}

impl WakeHints for Subscription {
    fn next(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.hints.changed().await.is_err() {
                // The outbox was dropped: no more hints, the poll decides.
                std::future::pending::<()>().await;
            }
        })
    }
}

async fn listen(
    pg: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    hints: watch::Sender<u64>,
    target: String,
) {
    let mut pause = Duration::from_secs(1);
    loop {
        match pg.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let statement = format!("LISTEN {CHANNEL}");
                let listen = client.batch_execute(&statement);
                tokio::pin!(listen);
                let mut listening = false;
                let ended = loop {
                    tokio::select! {
                        done = &mut listen, if !listening => match done {
                            Ok(()) => {
                                listening = true;
                                pause = Duration::from_secs(1);
                                tracing::debug!(target = %target, "listening for outbox wake-ups");
                                // Hints sent while not listening are lost.
                                hints.send_modify(|n| *n = n.wrapping_add(1));
                            }
                            Err(error) => break crate::error::chain(&error),
                        },
                        message = std::future::poll_fn(|cx| connection.poll_message(cx)) => match message {
                            Some(Ok(AsyncMessage::Notification(_))) => {
                                hints.send_modify(|n| *n = n.wrapping_add(1));
                            }
                            Some(Ok(_)) => {}
                            Some(Err(error)) => break crate::error::chain(&error),
                            None => break "the connection closed".to_owned(),
                        },
                    }
                };
                tracing::warn!(target = %target, error = %ended, "lost the outbox wake-up connection; polling until it is back");
            }
            Err(error) => {
                tracing::warn!(target = %target, error = %crate::error::chain(&error), retry_in = ?pause, "cannot open the outbox wake-up connection");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}
