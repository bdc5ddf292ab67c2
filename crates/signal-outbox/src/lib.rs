//! Durable transactional outbox for trading signals, on embedded SQLite.
