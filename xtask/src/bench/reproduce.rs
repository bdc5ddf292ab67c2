//! The report's closing sections: how to reproduce it, and the method.

use super::Bench;

pub(super) fn reproduce(bench: &Bench) -> String {
    format!(
        "## Reproduce\n\n\
         ```sh\n\
         cargo xtask bench                      # everything above but section 8, then this file\n\
         cargo xtask bench --external           # and section 8 (needs nginx and wrk: apt-get install -y nginx-light wrk)\n\
         cargo xtask bench --only e2e --output /tmp/bench.md   # some steps only (names in cargo xtask bench --help)\n\
         cargo bench --workspace --no-run       # build every benchmark (CI)\n\
         # one comparison at a time, with the same short times:\n\
         cargo bench -p retry-core --bench retry -- --warm-up-time {w} --measurement-time {m} --noplot\n\
         cargo bench -p hmac-client --bench signing -- --warm-up-time {w} --measurement-time {m} --noplot\n\
         cargo bench -p ops-alerts --bench format -- --warm-up-time {w} --measurement-time {m} --noplot\n\
         cargo bench -p signal-delivery --bench e2e -- --warm-up-time {w} --measurement-time {m} --noplot   # xtask: 3 runs\n\
         BENCH_RECEIVER_URL=http://127.0.0.1:PORT/signals cargo bench -p signal-delivery --bench e2e   # to a receiver of your own\n\
         cargo bench -p signal-delivery --bench parked_memory\n\
         cargo bench -p signal-delivery --bench durable   # DURABLE_BENCH_BACKLOGS=10000,100000,1000000 for the million\n\
         cargo test -p retry-core --test zero_alloc\n\
         cargo run --release -p signal-outbox-sqlite --example enqueue_throughput\n\
         ```\n\n\
         Pass `-- --warm-up-time` and friends only with `--bench`: the library targets use \
         the standard bench harness, which rejects criterion's flags.\n\n",
        w = bench.warm_up,
        m = bench.measurement
    )
}

pub(super) const METHOD: &str = "\
## Method notes

- Benchmarks live in the crate they measure (`crates/<crate>/benches/`); the
  end-to-end ones and the memory program are in signal-delivery. Only
  127.0.0.1 is used, and every run sends a bounded number of requests.
- The alternatives are dev-dependencies only: backon 1 (with its `std`
  feature, so its jitter is seeded from entropy as by default) and the
  unmaintained `backoff` 0.4 (RUSTSEC-2025-0012), never runtime dependencies.
- Parameters are the same on both sides: 5 s base, factor 2, 120 s cap, 5
  retries; jitter as each crate does it (retry-core proportional +0..10 %,
  backoff ±10 %, backon +0..100 % of the current delay; backon has no
  proportional option). The `backoff` crate also reads the clock on every
  delay (its elapsed-time check), which is part of its cost.
- The signing baseline prepares `{id}.{timestamp}.` once, so the ratio
  includes everything hmac-client adds: formatting the timestamp, base64 and
  the `v1,` header value for signing; header parsing, the timestamp window
  and base64 decoding for verifying.
- The memory program turns the shared retry budget off
  (`RETRY_BUDGET=off`), so that only the parked retries are measured, not
  the budget pacing the retries that follow. Resident memory
  includes allocator slack (glibc malloc keeps freed memory), so the
  per-signal figure is an upper bound.

### Why `allocation-counter` for the zero-allocation test

A counting global allocator needs `unsafe impl GlobalAlloc`, and the
workspace forbids `unsafe_code` (`forbid` cannot be relaxed by an
`#![allow]` in a test file). The two clean ways out were a small
`publish = false` package of our own with its lints set to the workspace's
minus `unsafe_code` (downgraded to `deny`) around one documented unsafe
block, or an existing crate. We chose the crate
[`allocation-counter`](https://crates.io/crates/allocation-counter) 0.8, as a
dev-dependency of retry-core used by that one test file only:

- no `unsafe` is written anywhere in the workspace, and `forbid` stays in
  force for every target, tests included; no lint exception to audit;
- it counts per thread (thread-local counters around `System`), which is what
  a test in the parallel libtest harness needs: allocations of other tests'
  threads do not leak into the count. A hand-written global counter would
  have needed the same care;
- it is tiny (one 67-line allocator, no dependencies) and easy to read in
  full; MIT or Apache-2.0, which `deny.toml` allows;
- the allocator is installed only in the binary that uses the crate (the
  `zero_alloc` test): rustc does not link unused dev-dependencies, so the
  other test binaries keep the system allocator.

The test subtracts runs with different retry counts, so one-time allocations
(the operation name copied into the error on give-up) cancel out; it
asserts zero for loops that end in success and equality for loops that give
up.
";
