//! Checks on text we show to people, and a small deterministic generator
//! for deriving choices (chunk sizes, keys) from the input itself.

/// Asserts that `message`, shown in a log line, an alert or a terminal, is
/// at most `max_bytes` long and holds no character that could forge a log
/// line or rewrite a terminal: no control character (newlines and escapes
/// included) and no bidirectional override.
///
/// ```
/// parser_fuzz::text::assert_shown("SIGNAL_MAX_BYTES=\"x\" is invalid", 64, "ok");
/// ```
#[track_caller]
pub fn assert_shown(message: &str, max_bytes: usize, what: &str) {
    assert!(
        message.len() <= max_bytes,
        "{what}: {} bytes, more than {max_bytes}: {message:?}",
        message.len()
    );
    assert!(
        !message.chars().any(is_forging),
        "{what}: a control or bidi character in {message:?}"
    );
    assert!(!message.is_empty(), "{what}: an empty message");
}

/// Control characters and the bidirectional embeddings, overrides and
/// isolates (U+202A to U+202E, U+2066 to U+2069).
fn is_forging(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// FNV-1a: a stable hash of the input, to seed [`Rng`].
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// xorshift64*: choices derived from the input, so a crash reproduces from
/// its file alone.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value; zero is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64().to_le_bytes()[0]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forging_characters_are_refused_and_plain_text_passes() {
        assert_shown("café \"quoted\" \\u{1b}", 64, "plain");
        for bad in ["a\nb", "\u{1b}[31m", "\u{202e}evil", "tab\there"] {
            let result = std::panic::catch_unwind(|| assert_shown(bad, 64, "bad"));
            assert!(result.is_err(), "{bad:?} passed");
        }
        assert!(std::panic::catch_unwind(|| assert_shown(&"x".repeat(65), 64, "long")).is_err());
    }

    #[test]
    fn the_generator_is_deterministic_and_spreads() {
        let mut a = Rng::new(fnv1a(b"seed"));
        let mut b = Rng::new(fnv1a(b"seed"));
        let first: Vec<u64> = (0..8).map(|_| a.below(10)).collect();
        let second: Vec<u64> = (0..8).map(|_| b.below(10)).collect();
        assert_eq!(first, second);
        assert!(first.iter().any(|&n| n != first[0]), "{first:?}");
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }
}
