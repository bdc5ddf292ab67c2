//! The `retry_after` fuzz target: see `parser_fuzz::retry_after` for the input format and
//! the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_fuzz::retry_after::run(data));
