//! The alert path's metrics: their help texts, and every series created at
//! zero, so that a scrape shows the alert path before its first alert.

use crate::service::{METRIC_FAILED, METRIC_FOLDED, METRIC_LOGGED, METRIC_QUEUED, METRIC_SENT};
use crate::severity::Severity;

/// Registers the help texts of the alert metrics (Prometheus `# HELP`).
/// Call once after installing a recorder.
///
/// ```
/// ops_alerts::describe_metrics(); // without a recorder, nothing happens
/// ```
pub fn describe_metrics() {
    metrics::describe_counter!(
        METRIC_SENT,
        "Messages delivered to Telegram (alerts and summaries), by severity."
    );
    metrics::describe_counter!(
        METRIC_FAILED,
        "Alerts Telegram refused for good or that could not be sent (logged at ERROR instead), by severity."
    );
    metrics::describe_counter!(
        METRIC_FOLDED,
        "Alerts folded into a group summary instead of sent alone, by severity."
    );
    metrics::describe_counter!(
        METRIC_LOGGED,
        "Alerts only logged (DEBUG, or alerts disabled), by severity."
    );
    metrics::describe_gauge!(
        METRIC_QUEUED,
        "Stored alerts due and not yet handed to Telegram by the sender holding the lease."
    );
}

/// Creates every alert series at zero: one per severity that can take
/// that path (DEBUG is only ever logged), and the queue gauge. Without
/// this, `alerts_failed_total` would first appear at 1, and a `rate()` or
/// `increase()` over it would miss the first failure of the alert path.
///
/// ```
/// ops_alerts::register_metrics_at_zero(); // without a recorder, nothing happens
/// ```
pub fn register_metrics_at_zero() {
    for severity in Severity::ALL {
        metrics::counter!(METRIC_LOGGED, "severity" => severity.as_str()).increment(0);
        if severity == Severity::Debug {
            continue;
        }
        for name in [METRIC_SENT, METRIC_FAILED, METRIC_FOLDED] {
            metrics::counter!(name, "severity" => severity.as_str()).increment(0);
        }
    }
    metrics::gauge!(METRIC_QUEUED).set(0.0);
}
