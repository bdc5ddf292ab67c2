//! Injected randomness: a tiny seedable generator instead of a `rand` dependency.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

/// A source of uniformly distributed random numbers for jitter.
///
/// Injected so that tests can seed it and replay an exact schedule. Jitter
/// only needs statistical spread, not unpredictability, so any fast generator
/// will do: [`ThreadRandom`] (the default of every loop) and [`SplitMix64`]
/// (seeded, for repeatable runs) are provided.
pub trait RandomSource {
    /// The next uniformly distributed 64-bit value.
    fn next_u64(&mut self) -> u64;

    /// A uniformly distributed value in `[0, 1)`, built from the top 53 bits
    /// of [`next_u64`](RandomSource::next_u64) (all an `f64` mantissa can hold,
    /// so every value is equally likely and 1.0 is never returned).
    #[inline]
    fn next_f64(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        (self.next_u64() >> 11) as f64 * SCALE
    }
}

impl<R: RandomSource + ?Sized> RandomSource for &mut R {
    fn next_u64(&mut self) -> u64 {
        (**self).next_u64()
    }

    fn next_f64(&mut self) -> f64 {
        (**self).next_f64()
    }
}

/// Sebastiano Vigna's SplitMix64: one addition and a mixing function per
/// value, passes BigCrush, every seed is valid (zero included).
///
/// ```
/// use retry_core::{RandomSource, SplitMix64};
///
/// let mut a = SplitMix64::new(7);
/// let mut b = SplitMix64::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let x = a.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator that always produces the same sequence for the same seed.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from the standard library's per-process random
    /// hash keys, so that two processes (or two retry loops) do not jitter in
    /// lock-step. No I/O and no extra dependency; a counter makes successive
    /// calls differ even if the hash keys were to repeat.
    pub fn from_entropy() -> Self {
        static CALLS: AtomicU64 = AtomicU64::new(0);
        let call = CALLS.fetch_add(1, Ordering::Relaxed);
        Self::new(RandomState::new().hash_one(call))
    }
}

impl RandomSource for SplitMix64 {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }
}

/// SplitMix64's increment: the odd integer closest to 2^64 / phi.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (a variant of MurmurHash3's finalizer).
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One [`SplitMix64`] per thread, seeded once from the standard library's
/// per-process random hash keys: the default generator of every retry loop.
///
/// Seeding a generator per loop (hashing the keys) cost more than the rest
/// of a short loop; a per-thread stream costs a thread-local read per draw,
/// and loops on one thread still draw different values (they take turns in
/// one stream), as do threads and processes (their seeds differ). This is
/// how `fastrand`, which backon uses, does it. For a repeatable schedule,
/// pass a seeded [`SplitMix64`] instead.
///
/// ```
/// use retry_core::{RandomSource, ThreadRandom};
///
/// let (a, b) = (ThreadRandom.next_u64(), ThreadRandom.next_u64());
/// assert_ne!(a, b);
/// assert!((0.0..1.0).contains(&ThreadRandom.next_f64()));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadRandom;

impl RandomSource for ThreadRandom {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        thread_local! {
            static STATE: Cell<u64> = Cell::new(SplitMix64::from_entropy().state);
        }
        STATE
            .try_with(|state| {
                let next = state.get().wrapping_add(GOLDEN_GAMMA);
                state.set(next);
                mix(next)
            })
            // Only while the thread's locals are being torn down.
            .unwrap_or_else(|_| SplitMix64::from_entropy().next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_splitmix64_output() {
        // First outputs of the reference C implementation for seed 1234567.
        let mut rng = SplitMix64::new(1_234_567);
        let expected = [
            6_457_827_717_110_365_317u64,
            3_203_168_211_198_807_973,
            9_817_491_932_198_370_423,
            4_593_380_528_125_082_431,
            16_408_922_859_458_223_821,
        ];
        for want in expected {
            assert_eq!(rng.next_u64(), want);
        }
    }

    #[test]
    fn next_f64_stays_in_the_unit_interval_and_spreads() {
        let mut rng = SplitMix64::new(0);
        let values: Vec<f64> = (0..10_000).map(|_| rng.next_f64()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
    }

    #[test]
    fn entropy_seeded_generators_differ() {
        let mut a = SplitMix64::from_entropy();
        let mut b = SplitMix64::from_entropy();
        assert_ne!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn threads_draw_different_streams_and_one_thread_never_repeats_itself() {
        let here: Vec<u64> = (0..1000).map(|_| ThreadRandom.next_u64()).collect();
        let mut unique = here.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), here.len());
        let there = std::thread::spawn(|| ThreadRandom.next_u64())
            .join()
            .unwrap();
        assert!(!here.contains(&there));
    }

    #[test]
    fn mutable_references_are_sources_too() {
        let mut rng = SplitMix64::new(9);
        let mut copy = rng.clone();
        let by_ref = &mut rng;
        fn take(mut r: impl RandomSource) -> u64 {
            r.next_u64()
        }
        assert_eq!(take(by_ref), copy.next_u64());
    }
}
