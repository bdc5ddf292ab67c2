//! The `config` fuzz target: see `parser_fuzz::config` for the input format and
//! the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_fuzz::config::run(data));
