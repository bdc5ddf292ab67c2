//! End-to-end tests for the workspace live in `tests/tests/`; this library holds nothing.
