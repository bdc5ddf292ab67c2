//! Property tests: the guarantees hold for every valid policy, not just the
//! defaults.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::time::Duration;

use proptest::prelude::*;
use retry_core::{
    Classify, Jitter, ManualClock, Retry, RetryPolicy, Retryability, SplitMix64,
    calculate_backoff_delay,
};

fn jitter() -> impl Strategy<Value = Jitter> {
    prop::sample::select(Jitter::ALL.to_vec())
}

/// A day in milliseconds: the longest duration a policy built in code may have.
const DAY_MS: u64 = 86_400_000;

/// Any policy the builder accepts: up to 100 retries, delays from 1 ms,
/// deadlines up to a day, with small values as likely as large ones.
fn policy_with(jitter: impl Strategy<Value = Jitter>) -> impl Strategy<Value = RetryPolicy> {
    let millis = || prop_oneof![1u64..=1_000, 1u64..=600_000, 1u64..=DAY_MS];
    (
        prop_oneof![0u32..=10, 0u32..=100],
        millis(),
        1.0f64..=10.0,
        prop_oneof![0u64..=1_000, 0u64..=DAY_MS],
        millis(),
        jitter,
    )
        .prop_map(
            |(retries, base_ms, multiplier, cap_extra_ms, elapsed_ms, jitter)| {
                RetryPolicy::builder()
                    .max_retries(retries)
                    .base_delay(Duration::from_millis(base_ms))
                    .backoff_multiplier(multiplier)
                    .max_delay(Duration::from_millis((base_ms + cap_extra_ms).min(DAY_MS)))
                    .max_elapsed(Duration::from_millis(elapsed_ms))
                    .jitter(jitter)
                    .build()
                    .unwrap()
            },
        )
}

#[derive(Debug, Clone, Copy)]
enum Failure {
    Transient,
    Hint(Duration),
}

impl Classify for Failure {
    fn retryability(&self) -> Retryability {
        match self {
            Failure::Transient => Retryability::Transient,
            Failure::Hint(d) => Retryability::RetryAfter(*d),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn delay_never_exceeds_max_delay(
        policy in policy_with(jitter()),
        retry in prop_oneof![0u32..64, any::<u32>()],
        seed in any::<u64>(),
    ) {
        let mut rng = SplitMix64::new(seed);
        for _ in 0..8 {
            let d = calculate_backoff_delay(&policy, retry, &mut rng);
            prop_assert!(d <= policy.max_delay(), "{:?} > {:?}", d, policy.max_delay());
        }
        for d in policy.backoff(SplitMix64::new(seed)) {
            prop_assert!(d <= policy.max_delay());
        }
    }

    #[test]
    fn jitter_off_delays_are_non_decreasing_and_start_at_base(
        policy in policy_with(Just(Jitter::None)),
    ) {
        let mut rng = SplitMix64::new(0);
        let delays: Vec<Duration> =
            (0..=100).map(|n| calculate_backoff_delay(&policy, n, &mut rng)).collect();
        prop_assert_eq!(delays[0], policy.base_delay());
        for pair in delays.windows(2) {
            prop_assert!(pair[0] <= pair[1], "{:?}", pair);
        }
        let iterated: Vec<Duration> = policy.backoff(SplitMix64::new(1)).collect();
        prop_assert_eq!(&iterated[..], &delays[..iterated.len()]);
    }

    #[test]
    fn proportional_jitter_stays_within_d_and_1_1_d_before_the_cap(
        policy in policy_with(Just(Jitter::Proportional)),
        retry in 0u32..40,
        seed in any::<u64>(),
    ) {
        let plain = RetryPolicy::builder()
            .max_retries(policy.max_retries())
            .base_delay(policy.base_delay())
            .backoff_multiplier(policy.backoff_multiplier())
            .max_delay(policy.max_delay())
            .max_elapsed(policy.max_elapsed())
            .jitter(Jitter::None)
            .build()
            .unwrap();
        let d = calculate_backoff_delay(&plain, retry, &mut SplitMix64::new(0));
        let j = calculate_backoff_delay(&policy, retry, &mut SplitMix64::new(seed));
        prop_assert!(j >= d, "{:?} < {:?}", j, d);
        prop_assert!(j <= d.mul_f64(1.1) + Duration::from_nanos(1), "{:?} > 1.1 x {:?}", j, d);
        prop_assert!(j <= policy.max_delay());
    }

    #[test]
    fn total_slept_never_exceeds_max_elapsed(
        policy in policy_with(jitter()),
        seed in any::<u64>(),
        work_ms in prop::collection::vec(prop_oneof![0u64..100, 0u64..120_000], 101),
        hints in prop::collection::vec(prop::option::of(prop_oneof![0u64..1_000, 0u64..DAY_MS]), 101),
    ) {
        let clock = ManualClock::new();
        let slept = RefCell::new(Duration::ZERO);
        let sleeper = |d: Duration| {
            // Never start a sleep that would end past the deadline.
            assert!(clock.elapsed() + d <= policy.max_elapsed());
            *slept.borrow_mut() += d;
            clock.advance(d);
        };
        let result = Retry::new(&policy, "prop")
            .clock(&clock)
            .rng(SplitMix64::new(seed))
            .run_blocking(&sleeper, |attempt| {
                let i = usize::try_from(attempt - 1).unwrap();
                clock.advance(Duration::from_millis(work_ms[i]));
                Err::<(), _>(match hints[i] {
                    Some(ms) => Failure::Hint(Duration::from_millis(ms)),
                    None => Failure::Transient,
                })
            });
        prop_assert!(result.is_err());
        prop_assert!(*slept.borrow() <= policy.max_elapsed());
        prop_assert!(result.unwrap_err().attempts() <= policy.max_attempts());
    }
}
