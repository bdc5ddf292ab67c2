//! What a caller's error must say about itself to be alerted on.

use std::borrow::Cow;

/// Implemented by the errors of callers (e.g. signal delivery) so that alerts
/// can be grouped and escalated.
///
/// The [`error_class`](AlertableError::error_class) together with the
/// operation forms the grouping fingerprint: make it stable and coarse
/// (`"http_503"`, `"timeout"`, `"signature_rejected"`), never containing ids or
/// timestamps, or every alert becomes its own group and the chat is flooded.
///
/// ```
/// use ops_alerts::AlertableError;
/// use std::borrow::Cow;
/// use std::fmt;
///
/// #[derive(Debug)]
/// struct Rejected;
///
/// impl fmt::Display for Rejected {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         f.write_str("receiver rejected the signature")
///     }
/// }
///
/// impl AlertableError for Rejected {
///     fn error_class(&self) -> Cow<'_, str> {
///         Cow::Borrowed("signature_rejected")
///     }
///     fn is_security_failure(&self) -> bool {
///         true
///     }
///     fn reason_label(&self) -> Option<Cow<'_, str>> {
///         Some(Cow::Borrowed("signature_rejected"))
///     }
/// }
///
/// #[derive(Debug)]
/// struct Unavailable;
///
/// impl fmt::Display for Unavailable {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         f.write_str("receiver answered 503 on every attempt")
///     }
/// }
///
/// impl AlertableError for Unavailable {
///     fn error_class(&self) -> Cow<'_, str> {
///         Cow::Borrowed("exhausted:http_503")
///     }
///     fn opens_outage(&self) -> bool {
///         true // the server is down: a recovered message follows the next delivery
///     }
/// }
/// assert!(Unavailable.opens_outage() && !Rejected.opens_outage());
/// ```
pub trait AlertableError: std::fmt::Display {
    /// A stable, low-cardinality name for the kind of failure.
    fn error_class(&self) -> Cow<'_, str>;

    /// A security failure (signature rejected, authentication refused): alerted
    /// as CRITICAL at once.
    fn is_security_failure(&self) -> bool {
        false
    }

    /// A failure of the server or the network (retries exhausted, deadline,
    /// retry budget, connection errors, 5xx), which opens an outage: the
    /// first delivery that works after it sends one recovered message. A
    /// signal the server rejected, or an invalid one, is not an outage.
    ///
    /// `false` unless overridden, so that an error that says nothing about
    /// itself never makes a "recovered" message claim an outage that was
    /// not one.
    fn opens_outage(&self) -> bool {
        false
    }

    /// The failure reason's stable label (`exhausted`, `rejected`, ...),
    /// stored with the alert; `None` unless overridden.
    fn reason_label(&self) -> Option<Cow<'_, str>> {
        None
    }
}
