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
/// }
/// ```
pub trait AlertableError: std::fmt::Display {
    /// A stable, low-cardinality name for the kind of failure.
    fn error_class(&self) -> Cow<'_, str>;

    /// A security failure (signature rejected, authentication refused): alerted
    /// as CRITICAL at once.
    fn is_security_failure(&self) -> bool {
        false
    }
}
