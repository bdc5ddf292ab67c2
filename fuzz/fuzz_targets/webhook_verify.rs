//! The `webhook_verify` fuzz target: see `parser_fuzz::webhook` for the input format and
//! the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_fuzz::webhook::run(data));
