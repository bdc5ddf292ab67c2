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

    /// A limiter that already granted the slots at `history` (messages sent
    /// before it existed, e.g. by another process, read from the store), so
    /// the limits hold across a restart or a change of sender.
    pub(crate) fn with_history(history: impl IntoIterator<Item = Instant>) -> RateLimiter {
        let mut granted: Vec<Instant> = history.into_iter().collect();
        granted.sort_unstable();
        let limiter = RateLimiter::new();
        RateLimiter {
            granted: Mutex::new(granted.into()),
            ..limiter
        }
    }

    /// Waits for the next slot and takes it.
    pub(crate) async fn acquire(&self) {
        self.wait(true).await;
    }

    /// Waits until a slot is free, without taking it: a caller that bounds
    /// the time of a send starts its clock after the pacing wait.
    pub(crate) async fn ready(&self) {
        self.wait(false).await;
    }

    async fn wait(&self, take: bool) {
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
                if take {
                    granted.push_back(now);
                }
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
    async fn history_from_elsewhere_counts() {
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(100)).await;
        // 20 sends in the last 20 s by another sender, the last 0.5 s ago.
        let now = Instant::now();
        let history: Vec<Instant> = (0..20)
            .map(|i| now - Duration::from_millis(500) - Duration::from_secs(19 - i))
            .collect();
        let limiter = RateLimiter::with_history(history.iter().rev().copied());
        limiter.ready().await;
        // The window is full: free again 60 s after the oldest of the 20.
        assert_eq!(Instant::now(), history[0] + WINDOW);
        assert!(start.elapsed() > Duration::from_secs(100));
        // `ready` took no slot: `acquire` is granted at once.
        let before = Instant::now();
        limiter.acquire().await;
        assert_eq!(before.elapsed(), Duration::ZERO);
        limiter.acquire().await;
        assert_eq!(before.elapsed(), MIN_INTERVAL);
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
