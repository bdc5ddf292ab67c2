//! Delay computation: exponential growth, jitter, then the cap, in that order
//! so that the cap still holds after jitter (the bug `backon` has).

use std::fmt;
use std::time::Duration;

use crate::jitter::Jitter;
use crate::policy::RetryPolicy;
use crate::rng::RandomSource;

/// The delay before retry `retry` (0-based: retry 0 follows the first failed
/// attempt).
///
/// The nominal delay is `base_delay * backoff_multiplier^retry` (saturating);
/// jitter is applied to it and the result is capped at `max_delay`, so the
/// cap holds for every strategy. With the defaults and [`Jitter::None`] the
/// delays are 5, 10, 20, 40 and 80 s. Never panics, whatever `retry` is.
///
/// This function is stateless, so [`Jitter::Decorrelated`] grows from the
/// nominal previous delay; [`RetryPolicy::backoff`] grows from the real one.
///
/// ```
/// use std::time::Duration;
/// use retry_core::{calculate_backoff_delay, Jitter, RetryPolicy, SplitMix64};
///
/// let policy = RetryPolicy::builder().jitter(Jitter::None).build()?;
/// let mut rng = SplitMix64::new(42);
/// assert_eq!(calculate_backoff_delay(&policy, 0, &mut rng), Duration::from_secs(5));
/// assert_eq!(calculate_backoff_delay(&policy, 4, &mut rng), Duration::from_secs(80));
/// assert_eq!(calculate_backoff_delay(&policy, 9, &mut rng), Duration::from_secs(120)); // capped
///
/// let jittered = RetryPolicy::default(); // proportional: up to +10 %
/// let d = calculate_backoff_delay(&jittered, 1, &mut rng);
/// assert!(d >= Duration::from_secs(10) && d <= Duration::from_secs(11));
/// # Ok::<(), retry_core::PolicyError>(())
/// ```
pub fn calculate_backoff_delay(
    policy: &RetryPolicy,
    retry: u32,
    rng: &mut impl RandomSource,
) -> Duration {
    let limits = Limits::of(policy);
    let previous = match retry.checked_sub(1) {
        None => limits.base,
        Some(before) => limits.nominal(policy, before),
    };
    jittered(policy, &limits, retry, previous, rng)
}

/// The delays before retries `0..max_retries` of one retry loop.
///
/// Made by [`RetryPolicy::backoff`]. It yields exactly
/// [`max_retries`](RetryPolicy::max_retries) delays; [`Jitter::Decorrelated`]
/// uses the previous delay it actually returned.
pub struct Backoff<R> {
    policy: RetryPolicy,
    limits: Limits,
    rng: R,
    retry: u32,
    previous_nanos: f64,
}

impl<R> Backoff<R> {
    pub(crate) fn new(policy: RetryPolicy, rng: R) -> Self {
        let limits = Limits::of(&policy);
        Self {
            policy,
            previous_nanos: limits.base,
            limits,
            rng,
            retry: 0,
        }
    }

    /// The generator jitter is drawn from, for the loop's other random
    /// waits (budget deferrals), so one seed makes a whole run repeatable.
    pub(crate) fn rng_mut(&mut self) -> &mut R {
        &mut self.rng
    }
}

impl<R> fmt::Debug for Backoff<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("policy", &self.policy)
            .field("retry", &self.retry)
            .field(
                "previous",
                &Duration::from_nanos(to_u64(self.previous_nanos)),
            )
            .finish_non_exhaustive()
    }
}

impl<R: RandomSource> Iterator for Backoff<R> {
    type Item = Duration;

    #[inline]
    fn next(&mut self) -> Option<Duration> {
        if self.retry >= self.policy.max_retries() {
            return None;
        }
        let delay = jittered(
            &self.policy,
            &self.limits,
            self.retry,
            self.previous_nanos,
            &mut self.rng,
        );
        self.previous_nanos = nanos(delay);
        self.retry = self.retry.saturating_add(1);
        Some(delay)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.policy.max_retries().saturating_sub(self.retry))
            .unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl<R: RandomSource> ExactSizeIterator for Backoff<R> {}
impl<R: RandomSource> std::iter::FusedIterator for Backoff<R> {}

/// The base delay and the cap in nanoseconds, converted once per loop.
#[derive(Debug, Clone, Copy)]
struct Limits {
    base: f64,
    cap: f64,
}

impl Limits {
    fn of(policy: &RetryPolicy) -> Self {
        Limits {
            base: nanos(policy.base_delay()),
            cap: nanos(policy.max_delay()),
        }
    }

    /// `base * multiplier^retry` in nanoseconds, capped (so finite whatever
    /// `retry` is). Computed in nanoseconds as the `backoff` crate does, so
    /// that jitter-off schedules match it exactly.
    #[inline]
    fn nominal(&self, policy: &RetryPolicy, retry: u32) -> f64 {
        (self.base * powi(policy.backoff_multiplier(), retry)).min(self.cap)
    }
}

#[inline]
fn jittered(
    policy: &RetryPolicy,
    limits: &Limits,
    retry: u32,
    previous_nanos: f64,
    rng: &mut impl RandomSource,
) -> Duration {
    // Capping before jitter too keeps the arithmetic finite; it changes no
    // result because every strategy is capped again afterwards.
    let t = limits.nominal(policy, retry);
    let value = match policy.jitter() {
        Jitter::None => t,
        Jitter::Proportional => t + rng.next_f64() * 0.1 * t,
        Jitter::Full => rng.next_f64() * t,
        Jitter::Equal => t / 2.0 + rng.next_f64() * (t / 2.0),
        Jitter::Decorrelated => {
            let base = limits.base;
            let high = (previous_nanos * 3.0).max(base);
            base + rng.next_f64() * (high - base)
        }
    };
    Duration::from_nanos(to_u64(value.min(limits.cap)))
}

#[inline]
fn nanos(d: Duration) -> f64 {
    d.as_secs() as f64 * 1e9 + f64::from(d.subsec_nanos())
}

/// Truncating, saturating conversion: NaN and negatives become 0, values
/// past `u64::MAX` become `u64::MAX` (what `as` does for floats).
#[inline]
fn to_u64(nanos: f64) -> u64 {
    nanos as u64
}

/// `base^exponent` by squaring, the algorithm of compiler-rt's `__powidf2`
/// (which `f64::powi` calls), written out so that it inlines into the loop:
/// the same multiplications in the same order, so the same results. At most
/// 32 squarings; `base >= 1`, so the result only grows (to infinity at worst,
/// which the cap then bounds).
#[inline]
fn powi(mut base: f64, mut exponent: u32) -> f64 {
    let mut result = 1.0;
    loop {
        if exponent & 1 == 1 {
            result *= base;
        }
        exponent /= 2;
        if exponent == 0 {
            return result;
        }
        base *= base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn policy(jitter: Jitter) -> RetryPolicy {
        RetryPolicy::builder().jitter(jitter).build().unwrap()
    }

    fn secs(delays: impl Iterator<Item = Duration>) -> Vec<f64> {
        delays.map(|d| d.as_secs_f64()).collect()
    }

    #[test]
    fn powi_gives_the_standard_library_s_results() {
        for base in [1.0, 1.000_000_1, 1.1, 1.5, 2.0, 2.5, 3.0, 7.3, 10.0] {
            for exponent in (0..70).chain([1000, 100_000, u32::MAX >> 1]) {
                let want = f64::powi(base, i32::try_from(exponent).unwrap());
                assert_eq!(
                    powi(base, exponent).to_bits(),
                    want.to_bits(),
                    "{base}^{exponent}"
                );
            }
        }
        assert_eq!(powi(2.0, u32::MAX), f64::INFINITY);
    }

    #[test]
    fn backoff_starts_at_base_delay() {
        let p = policy(Jitter::None);
        assert_eq!(
            calculate_backoff_delay(&p, 0, &mut SplitMix64::new(0)),
            p.base_delay()
        );
    }

    #[test]
    fn no_jitter_schedule_is_exactly_5_10_20_40_80() {
        let p = policy(Jitter::None);
        assert_eq!(
            secs(p.backoff(SplitMix64::new(1))),
            [5.0, 10.0, 20.0, 40.0, 80.0]
        );
        let mut rng = SplitMix64::new(2);
        let stateless: Vec<f64> = (0..5)
            .map(|n| calculate_backoff_delay(&p, n, &mut rng).as_secs_f64())
            .collect();
        assert_eq!(stateless, [5.0, 10.0, 20.0, 40.0, 80.0]);
        let total: Duration = p.backoff(SplitMix64::new(3)).sum();
        assert_eq!(total, Duration::from_secs(155));
    }

    #[test]
    fn backoff_grows_exponentially_with_the_multiplier() {
        let p = RetryPolicy::builder()
            .jitter(Jitter::None)
            .base_delay(Duration::from_secs(2))
            .backoff_multiplier(3.0)
            .max_delay(Duration::from_secs(600))
            .build()
            .unwrap();
        let mut rng = SplitMix64::new(0);
        for n in 0..5 {
            assert_eq!(
                calculate_backoff_delay(&p, n, &mut rng),
                Duration::from_secs(2 * 3u64.pow(n))
            );
        }
    }

    #[test]
    fn every_strategy_respects_max_delay_even_for_huge_retry_indexes() {
        for jitter in Jitter::ALL {
            let p = RetryPolicy::builder()
                .jitter(jitter)
                .max_delay(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut rng = SplitMix64::new(7);
            for n in [0, 3, 4, 5, 10, 1000, u32::MAX] {
                for _ in 0..100 {
                    let d = calculate_backoff_delay(&p, n, &mut rng);
                    assert!(d <= Duration::from_secs(30), "{jitter} retry {n}: {d:?}");
                }
            }
        }
    }

    #[test]
    fn proportional_jitter_at_the_cap_stays_at_the_cap() {
        // backon adds jitter after the cap; here 80 s * 1.1 must still be capped.
        let p = RetryPolicy::builder()
            .max_delay(Duration::from_secs(80))
            .build()
            .unwrap();
        let mut rng = SplitMix64::new(11);
        for _ in 0..1000 {
            assert_eq!(
                calculate_backoff_delay(&p, 4, &mut rng),
                Duration::from_secs(80)
            );
        }
    }

    #[test]
    fn jitter_varies_with_the_seed_and_repeats_with_the_same_seed() {
        for jitter in [
            Jitter::Proportional,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            let p = policy(jitter);
            let a: Vec<_> = p.backoff(SplitMix64::new(1)).collect();
            let b: Vec<_> = p.backoff(SplitMix64::new(2)).collect();
            let a_again: Vec<_> = p.backoff(SplitMix64::new(1)).collect();
            assert_ne!(a, b, "{jitter}");
            assert_eq!(a, a_again, "{jitter}");
        }
    }

    #[test]
    fn strategies_stay_in_their_documented_ranges() {
        let mut rng = SplitMix64::new(5);
        let mut d =
            |j| calculate_backoff_delay(&policy(j), 2, &mut SplitMix64::new(rng.next_u64()));
        for _ in 0..500 {
            let t = Duration::from_secs(20);
            let prop = d(Jitter::Proportional);
            assert!(prop >= t && prop <= t.mul_f64(1.1), "{prop:?}");
            assert!(d(Jitter::Full) <= t);
            let eq = d(Jitter::Equal);
            assert!(eq >= t / 2 && eq <= t, "{eq:?}");
            // Stateless decorrelated: U[base, 3 * nominal previous (10 s)].
            let dec = d(Jitter::Decorrelated);
            assert!(
                dec >= Duration::from_secs(5) && dec <= Duration::from_secs(30),
                "{dec:?}"
            );
        }
    }

    #[test]
    fn decorrelated_iterator_grows_from_the_previous_real_delay() {
        let p = RetryPolicy::builder()
            .jitter(Jitter::Decorrelated)
            .max_retries(10)
            .max_delay(Duration::from_secs(600))
            .build()
            .unwrap();
        for seed in 0..50 {
            let delays: Vec<_> = p.backoff(SplitMix64::new(seed)).collect();
            let mut previous = p.base_delay();
            for d in delays {
                assert!(
                    d >= p.base_delay() && d <= previous * 3,
                    "{d:?} after {previous:?}"
                );
                previous = d;
            }
        }
    }

    #[test]
    fn iterator_yields_exactly_max_retries_delays() {
        for max_retries in [0, 1, 5, 10] {
            let p = RetryPolicy::builder()
                .max_retries(max_retries)
                .build()
                .unwrap();
            let backoff = p.backoff(SplitMix64::new(0));
            assert_eq!(backoff.len(), max_retries as usize);
            assert_eq!(backoff.count(), max_retries as usize);
        }
        let text = format!("{:?}", policy(Jitter::None).backoff(SplitMix64::new(0)));
        assert!(text.starts_with("Backoff"), "{text}");
    }
}
