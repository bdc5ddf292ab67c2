//! Telegram's per-chat limits: about one message per second to a chat and 20 per
//! minute to a group. Exceeding them earns 429s with growing `retry_after`, so
//! alerts pace themselves instead.
//!
//! Time is tokio's, so paused-clock tests drive it deterministically.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Minimum spacing between two messages to the chat.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Rolling window of the per-minute limit.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Messages allowed per rolling window (the group limit; stricter than a DM's).
pub const MAX_PER_WINDOW: usize = 20;

/// Grants send slots: at least [`MIN_INTERVAL`] apart, at most
/// [`MAX_PER_WINDOW`] per rolling [`WINDOW`]. Waiters are served in order
/// (tokio's mutex is fair). Cancel-safe: a waiter dropped while waiting (the
/// alert's time bound passed) takes no slot.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Start times of the slots granted within the last window, oldest first.
    granted: Mutex<VecDeque<Instant>>,
    min_interval: Duration,
    window: Duration,
    max_per_window: usize,
}

impl RateLimiter {
    pub(crate) fn new() -> RateLimiter {
        RateLimiter::with_limits(MIN_INTERVAL, WINDOW, MAX_PER_WINDOW)
    }

    pub(crate) fn with_limits(
        min_interval: Duration,
        window: Duration,
        max_per_window: usize,
    ) -> RateLimiter {
        RateLimiter {
            granted: Mutex::new(VecDeque::new()),
            min_interval,
            window,
            max_per_window: max_per_window.max(1),
        }
    }

    /// Waits for the next slot and takes it.
    pub(crate) async fn acquire(&self) {
        // Held across the sleep on purpose: the next waiter must see this slot.
        let mut granted = self.granted.lock().await;
        loop {
            let now = Instant::now();
            while granted
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                granted.pop_front();
            }
            let mut ready_at = now;
            if let Some(last) = granted.back() {
                ready_at = ready_at.max(*last + self.min_interval);
            }
            if granted.len() >= self.max_per_window
                && let Some(oldest) = granted.front()
            {
                ready_at = ready_at.max(*oldest + self.window);
            }
            if ready_at <= now {
                granted.push_back(now);
                return;
            }
            tokio::time::sleep_until(ready_at).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_per_second_and_twenty_per_minute() {
        let limiter = RateLimiter::new();
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..25 {
            limiter.acquire().await;
            times.push(start.elapsed());
        }
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= MIN_INTERVAL, "{pair:?}");
        }
        // Slots 0..20 at 0..19 s; the 21st waits for the first to leave the window.
        assert_eq!(times[19], Duration::from_secs(19));
        assert_eq!(times[20], Duration::from_secs(60));
        for (i, t) in times.iter().enumerate() {
            let in_window = times
                .iter()
                .filter(|u| **u <= *t && *t - **u < WINDOW)
                .count();
            assert!(in_window <= MAX_PER_WINDOW, "slot {i}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_limiter_grants_at_once() {
        let limiter = RateLimiter::new();
        limiter.acquire().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = Instant::now();
        limiter.acquire().await;
        assert_eq!(before.elapsed(), Duration::ZERO);
    }
}
