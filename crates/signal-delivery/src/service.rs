//! The delivery service: one signal in, exactly one outcome out.

use crate::interrupt::Interrupt;
use crate::outcome::{Delivered, DeliveryError, DeliveryResult};
use crate::signal::{self, Signal};
use crate::telemetry::{self, DeliveryObserver, POST_SIGNAL, RetryListener};
use hmac_client::{ClientBuildError, PostError, SignalClient};
use ops_alerts::{AlertOutcome, Attempts, OpsAlertService};
use retry_core::{Classify, Retry, RetryBudget, RetryError, RetryPolicy, Retryability, TokioClock};
use signal_config::{AlertSetting, DeliveryConfig};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

/// Delivers signals: sign, post, retry transient failures, alert on every
/// failure. Cheap to clone; clones share the HTTP client (connection reuse),
/// the retry budget and the alert service.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use signal_delivery::{DeliveryConfig, DeliveryService, Signal};
///
/// let config = DeliveryConfig::from_env()?;
/// let service = DeliveryService::new(&config)?;
/// let signal = Signal::from_json(br#"{"id":"sig-1","instrument":"BTC-USD","side":"buy"}"#)?;
/// match service.deliver(&signal).await {
///     Ok(delivered) => println!("delivered after {} attempt(s)", delivered.attempts),
///     Err(error) => eprintln!("not delivered, owner alerted: {error}"),
/// }
/// service.shutdown().await; // sends pending alert summaries
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DeliveryService {
    inner: Arc<Inner>,
}

struct Inner {
    client: SignalClient,
    policy: RetryPolicy,
    budget: Option<RetryBudget>,
    alerts: OpsAlertService,
    listener: Option<RetryListener>,
}

impl std::fmt::Debug for DeliveryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryService")
            .field("client", &self.inner.client)
            .field("policy", &self.inner.policy)
            .field("budget", &self.inner.budget)
            .field("alerts", &self.inner.alerts)
            .finish_non_exhaustive()
    }
}

/// Why the service could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The HTTP client could not be created.
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    /// The retry budget parameters were rejected.
    #[error("retry budget: {0}")]
    Budget(#[from] retry_core::PolicyError),
}

impl DeliveryService {
    /// Builds the service from a validated configuration. Alerts go to
    /// Telegram unless the configuration disables them. Call inside a tokio
    /// runtime (the alert service schedules its summaries on it).
    pub fn new(config: &DeliveryConfig) -> Result<DeliveryService, BuildError> {
        let alerts = match &config.alerts {
            AlertSetting::Telegram(alert_config) => OpsAlertService::new(alert_config.clone()),
            AlertSetting::Disabled => OpsAlertService::log_only(),
        };
        DeliveryService::with_parts(config, SignalClient::new(config.client.clone())?, alerts)
    }

    /// Builds the service around a client and an alert service made by the
    /// caller (a custom alert sink, an injected clock).
    pub fn with_parts(
        config: &DeliveryConfig,
        client: SignalClient,
        alerts: OpsAlertService,
    ) -> Result<DeliveryService, BuildError> {
        let budget = config.budget.build()?;
        Ok(DeliveryService {
            inner: Arc::new(Inner {
                client,
                policy: config.retry,
                budget,
                alerts,
                listener: None,
            }),
        })
    }

    /// Calls `listener` on every scheduled retry (the drill prints them).
    /// Must be set before the service is cloned.
    pub fn with_retry_listener(mut self, listener: RetryListener) -> DeliveryService {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.listener = Some(listener);
        } else {
            tracing::warn!("with_retry_listener called on a shared service; listener ignored");
        }
        self
    }

    /// The alert service (shared).
    pub fn alerts(&self) -> &OpsAlertService {
        &self.inner.alerts
    }

    /// The retry policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.inner.policy
    }

    /// Delivers one signal. On failure the owner has been alerted (or the
    /// alert failure logged) before this returns.
    pub async fn deliver(&self, signal: &Signal) -> DeliveryResult {
        self.deliver_interruptible(signal, &Interrupt::never())
            .await
    }

    /// Like [`deliver`](Self::deliver), stopping when told to (see
    /// [`Interrupt`]): once `interrupt` stops, no new attempt starts and a
    /// signal waiting for its next retry ends at once; once it aborts, the
    /// attempt in flight is cut. Either way the signal fails with
    /// [`FailureReason::Interrupted`](crate::FailureReason::Interrupted),
    /// alerted like any failure.
    pub async fn deliver_interruptible(
        &self,
        signal: &Signal,
        interrupt: &Interrupt,
    ) -> DeliveryResult {
        let span =
            tracing::info_span!("signal", id = %signal.id(), attempt = tracing::field::Empty);
        self.deliver_in_span(signal, interrupt)
            .instrument(span)
            .await
    }

    /// Validates raw JSON and delivers it: the entry point for producers that
    /// hand over bytes. An invalid signal is reported, alerted and returned as
    /// a failure, never skipped.
    pub async fn deliver_json(&self, input: &[u8]) -> DeliveryResult {
        match Signal::from_json(input) {
            Ok(signal) => self.deliver(&signal).await,
            Err(error) => Err(self.reject_invalid(signal::id_hint(input), error).await),
        }
    }

    /// Reports, alerts and returns an input that is not a valid signal
    /// (`send` and `enqueue` use this for lines they refuse). `id_hint` is
    /// the input's id when it had a valid one.
    pub(crate) async fn reject_invalid(
        &self,
        id_hint: Option<String>,
        error: signal::SignalError,
    ) -> DeliveryError {
        let error = DeliveryError::invalid(id_hint, error);
        self.report_failure(&error).await;
        error
    }

    /// The shared HTTP client (one connection pool for every attempt).
    pub(crate) fn client(&self) -> &SignalClient {
        &self.inner.client
    }

    /// The shared retry budget, when one is configured.
    pub(crate) fn budget(&self) -> Option<&RetryBudget> {
        self.inner.budget.as_ref()
    }

    /// The retry listener, when one is set.
    pub(crate) fn listener(&self) -> Option<&RetryListener> {
        self.inner.listener.as_ref()
    }

    async fn deliver_in_span(&self, signal: &Signal, interrupt: &Interrupt) -> DeliveryResult {
        let inner = &self.inner;
        let started = Instant::now();
        let observer = DeliveryObserver {
            signal_id: signal.id(),
            max_attempts: inner.policy.max_attempts(),
            listener: inner.listener.as_ref(),
        };
        let mut retry = Retry::new(&inner.policy, POST_SIGNAL)
            .observer(&observer)
            .clock(TokioClock);
        if let Some(budget) = &inner.budget {
            retry = retry.budget(budget);
        }
        // The last server answer, kept so that an interrupted signal's
        // outcome still says what the server said before the stop.
        let last_post: Mutex<Option<PostError>> = Mutex::new(None);
        let sleeper = |delay: Duration| {
            let interrupt = interrupt.clone();
            async move {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = interrupt.stopping() => {}
                }
            }
        };
        let mut attempts = 0;
        let result = retry
            .run_async(&sleeper, |attempt| {
                let post = (!interrupt.is_stopping()).then(|| {
                    attempts = attempt;
                    tracing::Span::current().record("attempt", attempt);
                    telemetry::record_attempt();
                    // Boxed, so that a signal parked between attempts holds
                    // only the sleep: the HTTP request's state (about 3 KiB)
                    // lives on the heap while in flight and is freed after.
                    Box::pin(inner.client.post_signal(signal.id(), signal.body().clone()))
                });
                let last_post = &last_post;
                async move {
                    let Some(post) = post else {
                        return Err(AttemptError::Interrupted { during_attempt: false });
                    };
                    let sent = Instant::now();
                    tokio::select! {
                        biased;
                        answer = post => {
                            telemetry::record_attempt_duration(answer.is_ok(), sent.elapsed());
                            answer.map_err(|error| {
                                *last_post.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.clone());
                                AttemptError::Post(error)
                            })
                        }
                        // An aborted attempt has no duration worth a sample: it
                        // ended because the process stops, not because of the server.
                        () = interrupt.aborting() => Err(AttemptError::Interrupted { during_attempt: true }),
                    }
                }
            })
            .await;
        let elapsed = started.elapsed();
        match result {
            Ok(receipt) => {
                telemetry::record_delivered(elapsed);
                inner.alerts.note_delivery_success();
                tracing::info!(
                    signal_id = %signal.id(),
                    outcome = "delivered",
                    attempts,
                    status = receipt.status,
                    elapsed_ms = millis(elapsed),
                    "signal delivered"
                );
                Ok(Delivered {
                    receipt,
                    attempts,
                    elapsed,
                })
            }
            Err(error) => {
                let last = last_post
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner);
                // Boxed for the same reason as the request: the alert's
                // state is only needed once the signal has failed.
                Box::pin(self.fail(gave_up(signal.id(), error, attempts, elapsed, last))).await
            }
        }
    }

    /// Records, logs and alerts one failed signal: the single exit of every failure.
    async fn fail(&self, error: DeliveryError) -> DeliveryResult {
        self.report_failure(&error).await;
        Err(error)
    }

    /// Counts, alerts (in memory: `send`) and logs one failed signal.
    pub(crate) async fn report_failure(&self, error: &DeliveryError) {
        let attempts = Attempts {
            made: error.attempts(),
            allowed: self.inner.policy.max_attempts(),
        };
        let operation = crate::alerts::stored::operation(error.reason());
        let id = error.signal_id().unwrap_or("(no valid id)").to_owned();
        let alert = self
            .inner
            .alerts
            .send_signal_delivery_error(&id, error, attempts, operation)
            .await;
        let alert_state = match &alert {
            AlertOutcome::Sent { .. } => "sent",
            AlertOutcome::Folded { .. } => "folded into a summary",
            AlertOutcome::Logged => "logged (alerts disabled)",
            AlertOutcome::Failed(_) => "FAILED",
        };
        self.log_failure(error, alert_state);
    }

    /// Counts and logs one failed signal whose alert the outbox stored with
    /// it (the worker's dead letters, enqueue's invalid lines and conflicts):
    /// the alert sender sends it, so it is not sent from here as well.
    pub(crate) fn report_stored_failure(&self, error: &DeliveryError) {
        self.log_failure(error, "stored in the outbox");
    }

    /// The metrics and the ERROR line of a failed signal: the same whether
    /// `deliver`, `enqueue` or the outbox worker gave up.
    fn log_failure(&self, error: &DeliveryError, alert_state: &str) {
        telemetry::record_failed(error.reason(), error.elapsed());
        tracing::error!(
            signal_id = %error.signal_id().unwrap_or("(no valid id)"),
            outcome = "failed",
            reason = %error.reason(),
            attempts = error.attempts(),
            elapsed_ms = millis(error.elapsed()),
            alert = alert_state,
            error = %error,
            "signal not delivered"
        );
    }

    /// Sends every pending alert summary. Call before the process exits so
    /// that folded alerts are never lost.
    pub async fn shutdown(&self) {
        self.inner.alerts.flush().await;
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One attempt's error as the retry loop sees it: the server's answer, or
/// the stop (permanent: the loop gives up at once).
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// The attempt failed.
    Post(PostError),
    /// The command is stopping: no attempt was made, or it was cut.
    Interrupted { during_attempt: bool },
}

impl Classify for AttemptError {
    fn retryability(&self) -> Retryability {
        match self {
            AttemptError::Post(error) => error.retryability(),
            AttemptError::Interrupted { .. } => Retryability::Permanent,
        }
    }
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptError::Post(error) => error.fmt(f),
            AttemptError::Interrupted { .. } => f.write_str("stopped"),
        }
    }
}

/// The failure for a loop that gave up: the server's last answer decides
/// the reason, unless the stop came first.
fn gave_up(
    id: &str,
    error: RetryError<AttemptError>,
    attempts: u32,
    elapsed: Duration,
    last: Option<PostError>,
) -> DeliveryError {
    let reason = error.reason();
    let retry_attempts = error.attempts();
    match error.into_last_error() {
        AttemptError::Post(post) => {
            DeliveryError::gave_up(id, reason, retry_attempts, elapsed, post)
        }
        AttemptError::Interrupted { during_attempt } => {
            DeliveryError::interrupted(id, attempts, elapsed, during_attempt, last)
        }
    }
}
