//! The invariants behind the fuzz targets, one module per target.
//!
//! Each `run` function takes the raw fuzzer input and panics (through
//! `assert!`) when an invariant breaks: that panic is what libFuzzer reports
//! as a crash. The targets in `fuzz_targets/` only call these, so the same
//! checks replay the committed corpus on stable Rust (`tests/corpus.rs`).
//!
//! Inputs are plain text or bytes wherever that works (an NDJSON stream, an
//! env file, header lines): the seed corpus stays readable, and a crash file
//! says what went wrong without a decoder.

pub mod config;
pub mod retry_after;
pub mod signal_line;
pub mod text;
pub mod webhook;
