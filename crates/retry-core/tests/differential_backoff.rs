//! Differential test against the `backoff` crate (0.4, unmaintained, used
//! here only as a reference): with jitter off, the same parameters must give
//! exactly the same delays.
//!
//! Both compute in `f64` nanoseconds and truncate to whole nanoseconds. The
//! parameters are chosen so that every intermediate value is exactly
//! representable (whole-millisecond bases, multipliers whose powers stay
//! exact below the cap); there the two must agree to the nanosecond. For
//! multipliers like 1.25, `backoff` multiplies step by step while we use
//! `base * m^n`, and the last bit of rounding may differ.
//!
//! Two quirks of the reference make it differ from the exact value by
//! nanoseconds: even with `randomization_factor = 0` it picks
//! `min + random * (max - min + 1)` nanoseconds (up to one longer, seen at a
//! 568.586 s cap), and it truncates to whole nanoseconds after every
//! multiplication where we truncate once, so its error compounds with the
//! multiplier (seen with base 1.009 s and multiplier 1.5: 1 ns at retry 8,
//! 15 ns at retry 13 with another base). The comparison therefore allows
//! less than one microsecond, on delays of seconds to minutes: a schedule
//! that differed in substance (a missing step, a cap applied late, jitter
//! left on) is off by milliseconds at least.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use backoff::backoff::Backoff as _;
use backoff::{ExponentialBackoff, ExponentialBackoffBuilder};
use proptest::prelude::*;
use retry_core::{Jitter, RetryPolicy, SplitMix64, calculate_backoff_delay};

fn reference(base: Duration, multiplier: f64, max_delay: Duration) -> ExponentialBackoff {
    ExponentialBackoffBuilder::new()
        .with_initial_interval(base)
        .with_randomization_factor(0.0)
        .with_multiplier(multiplier)
        .with_max_interval(max_delay)
        // Its deadline runs on the real clock; ours is tested elsewhere.
        .with_max_elapsed_time(None)
        .build()
}

/// Equal to well under a microsecond: the reference's rounding (above) and nothing else.
fn same(mine: Duration, theirs: Duration) -> bool {
    mine.abs_diff(theirs) < Duration::from_micros(1)
}

fn ours(base: Duration, multiplier: f64, max_delay: Duration) -> RetryPolicy {
    RetryPolicy::builder()
        .jitter(Jitter::None)
        .max_retries(10)
        .base_delay(base)
        .backoff_multiplier(multiplier)
        .max_delay(max_delay)
        .build()
        .unwrap()
}

#[test]
fn default_schedule_matches_the_backoff_crate() {
    let (base, m, cap) = (Duration::from_secs(5), 2.0, Duration::from_secs(120));
    let mut reference = reference(base, m, cap);
    let theirs: Vec<Duration> = (0..10).map(|_| reference.next_backoff().unwrap()).collect();
    let mine: Vec<Duration> = ours(base, m, cap).backoff(SplitMix64::new(0)).collect();
    assert_eq!(mine, theirs);
    let secs: Vec<u64> = mine.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [5, 10, 20, 40, 80, 120, 120, 120, 120, 120]);
}

proptest! {
    #[test]
    fn jitter_off_sequences_are_identical(
        base_ms in 1_000u64..=600_000,
        multiplier in prop::sample::select(vec![1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 10.0]),
        cap_extra_ms in 0u64..=600_000,
    ) {
        let base = Duration::from_millis(base_ms);
        let cap = Duration::from_millis((base_ms + cap_extra_ms).min(600_000));
        let policy = ours(base, multiplier, cap);
        let mut reference = reference(base, multiplier, cap);
        let theirs: Vec<Duration> = (0..30).map(|_| reference.next_backoff().unwrap()).collect();

        // The iterator (first max_retries delays) ...
        let mine: Vec<Duration> = policy.backoff(SplitMix64::new(0)).collect();
        prop_assert_eq!(mine.len(), 10);
        for (n, (m, t)) in mine.iter().zip(&theirs).enumerate() {
            prop_assert!(same(*m, *t), "retry {}: {:?} vs {:?}", n, m, t);
        }
        // ... and the stateless function, further out.
        let mut rng = SplitMix64::new(0);
        for (n, expected) in (0u32..).zip(&theirs) {
            let mine = calculate_backoff_delay(&policy, n, &mut rng);
            prop_assert!(same(mine, *expected), "retry {}: {:?} vs {:?}", n, mine, expected);
        }
    }
}
