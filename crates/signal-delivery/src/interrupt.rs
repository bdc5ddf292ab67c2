//! Stopping deliveries in two steps, the way `send` stops on SIGTERM or
//! SIGINT: first no new attempts (a signal waiting for its next retry ends
//! at once), then, after a grace period, the attempts still in flight are
//! cut. Either way the signal gets its outcome, `interrupted`, and an alert.

use tokio::sync::watch;

/// The receiving side, handed to [`crate::DeliveryService::deliver_interruptible`].
/// Cheap to clone; every clone sees the same two steps.
#[derive(Debug, Clone)]
pub struct Interrupt {
    stop: watch::Receiver<bool>,
    abort: watch::Receiver<bool>,
}

/// The sending side: owned by whoever decides to stop.
#[derive(Debug)]
pub struct InterruptHandle {
    stop: watch::Sender<bool>,
    abort: watch::Sender<bool>,
}

impl Interrupt {
    /// A pair: the handle that stops, and the interrupt deliveries watch.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (handle, interrupt) = signal_delivery::Interrupt::new();
    /// assert!(!interrupt.is_stopping());
    /// handle.stop();
    /// assert!(interrupt.is_stopping());
    /// interrupt.stopping().await; // ready at once
    /// # });
    /// ```
    pub fn new() -> (InterruptHandle, Interrupt) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (abort_tx, abort_rx) = watch::channel(false);
        (
            InterruptHandle {
                stop: stop_tx,
                abort: abort_tx,
            },
            Interrupt {
                stop: stop_rx,
                abort: abort_rx,
            },
        )
    }

    /// An interrupt that never fires (plain `deliver`).
    ///
    /// One pair of channels for the whole process, whose senders are gone:
    /// waiting on it never ends, and a `deliver` call costs no allocation of
    /// its own (two channels each were about 700 bytes per parked signal).
    pub fn never() -> Interrupt {
        static NEVER: std::sync::OnceLock<Interrupt> = std::sync::OnceLock::new();
        NEVER.get_or_init(|| Interrupt::new().1).clone()
    }

    /// True once no new attempt may start.
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Completes once no new attempt may start (never, if the handle is
    /// dropped without stopping).
    pub async fn stopping(&self) {
        wait_true(self.stop.clone()).await;
    }

    /// Completes once attempts in flight must be cut.
    pub async fn aborting(&self) {
        wait_true(self.abort.clone()).await;
    }
}

impl InterruptHandle {
    /// Step one: no new attempts; signals waiting for a retry end now.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Step two: cut the attempts still in flight.
    pub fn abort(&self) {
        self.stop.send_replace(true);
        self.abort.send_replace(true);
    }
}

async fn wait_true(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        // The handle is gone without firing: this step never comes.
        std::future::pending::<()>().await;
    }
}
