//! A Standard Webhooks signal server on 127.0.0.1 that verifies every request and fails on demand.
