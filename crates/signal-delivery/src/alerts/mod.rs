//! Alerts as durable as signals: built with the change that caused them
//! ([`stored`]), stored by the outbox in the same transaction, and sent
//! from the outbox by one sender at a time ([`sender`], through the
//! [`queue`] adapter).

pub(crate) mod queue;
pub(crate) mod sender;
pub(crate) mod stored;

pub use queue::OutboxAlerts;
