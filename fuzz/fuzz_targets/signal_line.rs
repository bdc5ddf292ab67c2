//! The `signal_line` fuzz target: see `parser_fuzz::signal_line` for the input format and
//! the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_fuzz::signal_line::run(data));
