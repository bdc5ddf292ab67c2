//! The steps of `cargo xtask bench`, and `--only` to run some of them.

/// One step; its name is the bench target (or test, or example) it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `cargo bench -p retry-core --bench retry`.
    Retry,
    /// `cargo bench -p hmac-client --bench signing`.
    Signing,
    /// `cargo bench -p ops-alerts --bench format`.
    Format,
    /// `cargo bench -p signal-delivery --bench parked_memory`.
    ParkedMemory,
    /// `cargo bench -p signal-delivery --bench durable`.
    Durable,
    /// The e2e bench, three times.
    E2e,
    /// `cargo test -p retry-core --test zero_alloc`.
    ZeroAlloc,
    /// The outbox's `enqueue_throughput` example.
    Enqueue,
    /// nginx, wrk, and the e2e and durable benches against nginx.
    External,
}

impl Step {
    /// Every step, in running order.
    pub const ALL: [Step; 9] = [
        Step::Retry,
        Step::Signing,
        Step::Format,
        Step::ParkedMemory,
        Step::Durable,
        Step::E2e,
        Step::ZeroAlloc,
        Step::Enqueue,
        Step::External,
    ];

    /// The name `--only` takes.
    pub fn name(self) -> &'static str {
        match self {
            Step::Retry => "retry",
            Step::Signing => "signing",
            Step::Format => "format",
            Step::ParkedMemory => "parked_memory",
            Step::Durable => "durable",
            Step::E2e => "e2e",
            Step::ZeroAlloc => "zero_alloc",
            Step::Enqueue => "enqueue",
            Step::External => "external",
        }
    }

    /// The steps of a comma-separated list of names; `None` if one is unknown.
    pub fn parse_list(list: &str) -> Option<Vec<Step>> {
        let mut steps = Vec::new();
        for name in list.split(',').map(str::trim) {
            let step = Step::ALL.into_iter().find(|s| s.name() == name)?;
            if !steps.contains(&step) {
                steps.push(step);
            }
        }
        Some(steps)
    }

    /// The names, comma-separated (for the help and errors).
    pub fn names() -> String {
        Step::ALL.map(Step::name).join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_of_names() {
        assert_eq!(
            Step::parse_list("e2e, external,e2e"),
            Some(vec![Step::E2e, Step::External])
        );
        assert_eq!(Step::parse_list("e2e,bogus"), None);
        assert_eq!(Step::parse_list(""), None);
        for step in Step::ALL {
            assert_eq!(Step::parse_list(step.name()), Some(vec![step]));
        }
    }
}
