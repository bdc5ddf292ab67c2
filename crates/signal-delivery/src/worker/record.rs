//! Group commit of outcomes: one recorder task commits whatever the attempt
//! tasks have handed it since the last commit, in one transaction, so a
//! busy worker pays one fsync per batch instead of one per signal.

use std::sync::Arc;
use std::time::Duration;

use signal_outbox::{Outbox, Outcome};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::alerts::sender::AlertWake;

/// Most outcomes committed in one transaction by the recorder.
const MAX_RECORD_BATCH: usize = 256;

/// Outcomes that may wait for their commit at once, per attempt slot. A
/// slot is given back when its outcome is handed over, so the next attempt
/// goes out while the commit is in progress (15 to 20 % more throughput on
/// SQLite, measured with the `durable` bench); the price is exposure to a
/// crash: a killed worker sends again up to the attempts in flight *and*
/// the outcomes waiting here, so this also bounds that to twice the
/// concurrency, and the rows held in memory with it.
const AWAITING_PER_SLOT: usize = 1;

/// An attempt's place among the worker's concurrent attempts (a permit of
/// its semaphore), given back by [`Recorder::record`] once the outcome is
/// handed over.
pub(super) type Slot = Option<OwnedSemaphorePermit>;

/// Pauses before the retries of a group commit the storage refused for now
/// (busy, a dropped connection, a database restarting): without them every
/// outcome of the batch would wait for its lease and its signal be sent
/// again.
const RECORD_RETRY_PAUSES: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

/// Why an outcome was not recorded.
#[derive(Debug)]
pub(super) enum NotRecorded {
    /// The claim is no longer this worker's (fenced: the row was claimed
    /// again, or has an outcome already).
    NotHeld(String),
    /// The database failed; the row comes back after its lease.
    Storage(String),
}

pub(super) type Recorded = Result<(), NotRecorded>;

/// One outcome waiting for its commit, and where its answer goes.
pub(super) struct Record {
    outcome: Outcome,
    reply: oneshot::Sender<Recorded>,
}

/// The attempt tasks' side of the recorder.
#[derive(Debug, Clone)]
pub(super) struct Recorder {
    records: mpsc::UnboundedSender<Record>,
    /// Room for outcomes waiting for their commit.
    awaiting: Arc<Semaphore>,
}

impl Recorder {
    /// Starts the recorder task for `worker`; it ends once every [`Recorder`]
    /// is dropped and the last batch is committed. After each commit it
    /// wakes the alert sender: a dead letter or a recovery stored an alert.
    pub(super) fn start(
        outbox: Arc<dyn Outbox>,
        worker: Arc<str>,
        alerts: AlertWake,
        concurrency: usize,
    ) -> (Recorder, tokio::task::JoinHandle<()>) {
        let (records, incoming) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(outbox, worker, alerts, incoming));
        let awaiting = Arc::new(Semaphore::new(
            concurrency.max(1).saturating_mul(AWAITING_PER_SLOT),
        ));
        (Recorder { records, awaiting }, task)
    }

    /// Hands `outcome` to the recorder, gives `slot` back, and waits until
    /// the outcome is committed (or refused). While too many outcomes wait
    /// already (a slow or refusing database), it waits for room first,
    /// holding its slot: the worker then claims no more than it can commit.
    pub(super) async fn record(&self, outcome: Outcome, slot: &mut Slot) -> Recorded {
        let stopped = || Err(NotRecorded::Storage("the recorder has stopped".to_owned()));
        let Ok(_room) = Arc::clone(&self.awaiting).acquire_owned().await else {
            return stopped();
        };
        let (reply, answer) = oneshot::channel();
        if self.records.send(Record { outcome, reply }).is_err() {
            return stopped();
        }
        drop(slot.take());
        answer.await.unwrap_or_else(|_| stopped())
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("id", &self.outcome.id())
            .finish_non_exhaustive()
    }
}

async fn run(
    outbox: Arc<dyn Outbox>,
    worker: Arc<str>,
    alerts: AlertWake,
    mut incoming: mpsc::UnboundedReceiver<Record>,
) {
    let mut owed_recovery = false;
    while let Some(first) = incoming.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_RECORD_BATCH {
            match incoming.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        let (outcomes, replies): (Vec<Outcome>, Vec<oneshot::Sender<Recorded>>) =
            batch.into_iter().map(|r| (r.outcome, r.reply)).unzip();
        // A dead letter stores an alert; the first delivery after an outage
        // stores the recovered one. Waking the sender for every delivered
        // batch would cost a round of alert queries per commit on a busy
        // worker, so deliveries wake it only after this worker saw an
        // outage (another process's outage is found by the sender's poll).
        let dead = outcomes
            .iter()
            .any(|o| matches!(o, Outcome::DeadLetter { .. }));
        let outage = outcomes
            .iter()
            .any(|o| matches!(o, Outcome::DeadLetter { outage: true, .. }));
        let delivered = outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Delivered { .. }));
        match record_with_retries(outbox.as_ref(), &worker, outcomes).await {
            Ok(results) => {
                owed_recovery |= outage;
                if dead || (delivered && owed_recovery) {
                    alerts.wake();
                }
                if delivered && !outage {
                    owed_recovery = false;
                }
                let mut results = results.into_iter();
                for reply in replies {
                    let answer = match results.next() {
                        Some(Ok(())) => Ok(()),
                        Some(Err(error)) if error.is_not_held() => {
                            Err(NotRecorded::NotHeld(error.to_string()))
                        }
                        Some(Err(error)) => Err(NotRecorded::Storage(error.to_string())),
                        None => Err(NotRecorded::Storage(
                            "no result for this outcome".to_owned(),
                        )),
                    };
                    let _ = reply.send(answer);
                }
            }
            Err(error) => {
                let text = error.to_string();
                for reply in replies {
                    let _ = reply.send(Err(NotRecorded::Storage(text.clone())));
                }
            }
        }
    }
}

/// Commits `outcomes`, trying again after each of [`RECORD_RETRY_PAUSES`]
/// while the storage says it is unavailable for now. A retry after a commit
/// whose answer was lost finds the rows recorded already: they come back as
/// not held, and are dropped as such, never recorded twice.
async fn record_with_retries(
    outbox: &dyn Outbox,
    worker: &str,
    outcomes: Vec<Outcome>,
) -> Result<Vec<Result<(), signal_outbox::OutboxError>>, signal_outbox::OutboxError> {
    let mut pauses = RECORD_RETRY_PAUSES.iter();
    loop {
        match outbox.record(worker, outcomes.clone()).await {
            Err(error) if error.is_retryable() => {
                let Some(pause) = pauses.next() else {
                    return Err(error);
                };
                tracing::warn!(error = %error, retry_in_ms = pause.as_millis() as u64, outcomes = outcomes.len(), "cannot record outcomes now; retrying the commit");
                tokio::time::sleep(*pause).await;
            }
            answer => return answer,
        }
    }
}
