//! Single-row conveniences built on the batch methods, for every backend.
//!
//! A backend never writes these: the blanket implementation covers every
//! [`Outbox`], `dyn Outbox` included.

use std::time::Duration;

use crate::error::OutboxError;
use crate::outcome::Outcome;
use crate::report::{NewAuditEntry, ReplayRequest, ReplaySelection, RowSummary, SignalDetail};
use crate::signal::{ClaimToken, EnqueueBatch, EnqueueOutcome, NewSignal};
use crate::store::{BoxFuture, Outbox};
use crate::time::Timestamp;

/// One-row shortcuts over the batch methods, for every [`Outbox`] (a
/// backend never writes them).
pub trait OutboxExt: Outbox {
    /// Stores one signal (its own transaction: prefer batches for
    /// throughput).
    ///
    /// # Errors
    /// As for `SignalStore::enqueue`.
    fn enqueue_one(&self, signal: NewSignal) -> BoxFuture<'_, Result<EnqueueOutcome, OutboxError>> {
        Box::pin(async move {
            let outcomes = self.enqueue(EnqueueBatch::of(vec![signal])).await?;
            outcomes
                .into_iter()
                .next()
                .ok_or_else(|| OutboxError::Internal {
                    detail: "enqueue returned no outcome for one signal".to_owned(),
                })
        })
    }

    /// Stores signals without alerts.
    ///
    /// # Errors
    /// As for `SignalStore::enqueue`.
    fn enqueue_signals(
        &self,
        signals: Vec<NewSignal>,
    ) -> BoxFuture<'_, Result<Vec<EnqueueOutcome>, OutboxError>> {
        self.enqueue(EnqueueBatch::of(signals))
    }

    /// One row, or `None`.
    ///
    /// # Errors
    /// Storage errors.
    fn get<'a>(&'a self, id: &str) -> BoxFuture<'a, Result<Option<RowSummary>, OutboxError>> {
        let id = id.to_owned();
        Box::pin(async move { Ok(self.show(vec![id]).await?.pop().map(|detail| detail.row)) })
    }

    /// One row with its body and attempt history, or `None`.
    ///
    /// # Errors
    /// Storage errors.
    fn detail<'a>(&'a self, id: &str) -> BoxFuture<'a, Result<Option<SignalDetail>, OutboxError>> {
        let id = id.to_owned();
        Box::pin(async move { Ok(self.show(vec![id]).await?.pop()) })
    }

    /// Records one outcome.
    ///
    /// # Errors
    /// [`OutboxError::Fenced`] or [`OutboxError::UnknownId`] if the claim is
    /// not held; storage errors.
    fn record_one<'a>(
        &'a self,
        worker: &str,
        outcome: Outcome,
    ) -> BoxFuture<'a, Result<(), OutboxError>> {
        let worker = worker.to_owned();
        Box::pin(async move {
            let results = self.record(&worker, vec![outcome]).await?;
            results.into_iter().next().unwrap_or_else(|| {
                Err(OutboxError::Internal {
                    detail: "record returned no result for one outcome".to_owned(),
                })
            })
        })
    }

    /// Extends one lease; returns the new expiry.
    ///
    /// # Errors
    /// As for [`record_one`](OutboxExt::record_one).
    fn extend_one<'a>(
        &'a self,
        id: &str,
        token: ClaimToken,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Timestamp, OutboxError>> {
        let id = id.to_owned();
        Box::pin(async move {
            let results = self.extend(vec![(id, token)], lease).await?;
            results.into_iter().next().unwrap_or_else(|| {
                Err(OutboxError::Internal {
                    detail: "extend returned no result for one lease".to_owned(),
                })
            })
        })
    }

    /// Replays one dead-lettered signal whatever its age (today's `outbox
    /// replay ID`), writing `audit`.
    ///
    /// # Errors
    /// [`OutboxError::UnknownId`] for an unknown id,
    /// [`OutboxError::WrongState`] if it is not dead-lettered.
    fn replay_one<'a>(
        &'a self,
        id: &str,
        audit: NewAuditEntry,
    ) -> BoxFuture<'a, Result<(), OutboxError>> {
        let id = id.to_owned();
        Box::pin(async move {
            let report = self
                .replay(ReplayRequest {
                    selection: ReplaySelection::Ids(vec![id.clone()]),
                    max_age: None,
                    dry_run: false,
                    audit,
                })
                .await?;
            if report.replayed == 1 {
                return Ok(());
            }
            if let Some((_, state)) = report.not_dead.into_iter().next() {
                return Err(OutboxError::WrongState {
                    id,
                    state,
                    expected: crate::State::DeadLettered,
                });
            }
            Err(OutboxError::UnknownId { id })
        })
    }
}

impl<T: Outbox + ?Sized> OutboxExt for T {}
