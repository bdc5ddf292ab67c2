//! The ops commands' metrics, kept here (not in `telemetry`) so the command
//! poller owns its names.

/// Counter: commands refused because the sender is not an admin or the
/// chat is not the ops chat; label `why` (`user`, `chat`).
pub const OPS_COMMANDS_REFUSED_TOTAL: &str = "signal_delivery_ops_commands_refused_total";
/// Counter: commands carried out for an admin in the ops chat; label
/// `command`.
pub const OPS_COMMANDS_TOTAL: &str = "signal_delivery_ops_commands_total";
/// Counter: `getUpdates` calls that failed; label `kind` (`retry_after`,
/// `conflict`, `unauthorized`, `transient`).
pub const OPS_POLL_ERRORS_TOTAL: &str = "signal_delivery_ops_poll_errors_total";

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The sender is not on the allow-list (or has no user id).
    User,
    /// An admin, but not in the ops chat.
    Chat,
}

impl Refusal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refusal::User => "user",
            Refusal::Chat => "chat",
        }
    }
}

pub(crate) fn refused(why: Refusal) {
    metrics::counter!(OPS_COMMANDS_REFUSED_TOTAL, "why" => why.as_str()).increment(1);
}

/// `command` is one of the fixed command names (never user text), so the
/// label set stays small.
pub(crate) fn carried_out(command: &'static str) {
    metrics::counter!(OPS_COMMANDS_TOTAL, "command" => command).increment(1);
}

pub(crate) fn poll_error(kind: &'static str) {
    metrics::counter!(OPS_POLL_ERRORS_TOTAL, "kind" => kind).increment(1);
}
