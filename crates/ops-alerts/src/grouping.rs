//! No spam: alerts with the same fingerprint (operation + error class, not the
//! signal id) within a cooldown window are folded into one summary.
//!
//! The first alert of a fingerprint opens a group and goes out at once; later
//! ones are folded into it (counted, their ids kept up to a bound); when the
//! window closes the group is closed and, if anything was folded, one summary
//! goes out. This module is the bookkeeping only, with no time or I/O: the
//! service schedules the window ends and sends.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::format::cut_text;
use crate::severity::Severity;

/// Longest signal id kept for a summary.
pub(crate) const ID_CAP: usize = 128;

/// What makes two alerts "the same failure".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Fingerprint {
    pub(crate) operation: String,
    pub(crate) error_class: String,
}

/// An open group.
#[derive(Debug)]
pub(crate) struct Group {
    /// Distinguishes this group from a later one with the same fingerprint, so
    /// a stale window timer never closes a newer group.
    pub(crate) id: u64,
    pub(crate) opened_at: DateTime<Utc>,
    /// Highest severity folded so far (an escalation raises the summary's).
    pub(crate) severity: Severity,
    pub(crate) folded: u64,
    pub(crate) signal_ids: Vec<String>,
    pub(crate) last_error: String,
}

/// A group taken out of the table: the summary to send if `folded > 0`.
#[derive(Debug)]
pub(crate) struct Closed {
    pub(crate) fingerprint: Fingerprint,
    pub(crate) group: Group,
}

/// What happened to an observed alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Observed {
    /// First of its fingerprint: send it now and close the group when the window ends.
    Opened { group_id: u64 },
    /// Folded into the open group, which now holds `pending` folded alerts.
    Folded { pending: u64 },
}

/// The open groups.
#[derive(Debug)]
pub(crate) struct Groups {
    open: HashMap<Fingerprint, Group>,
    next_id: u64,
    id_limit: usize,
}

impl Groups {
    pub(crate) fn new(id_limit: usize) -> Groups {
        Groups {
            open: HashMap::new(),
            next_id: 1,
            id_limit,
        }
    }

    /// Records one alert.
    pub(crate) fn observe(
        &mut self,
        fingerprint: &Fingerprint,
        signal_id: &str,
        severity: Severity,
        error: &str,
        now: DateTime<Utc>,
    ) -> Observed {
        if let Some(group) = self.open.get_mut(fingerprint) {
            group.folded += 1;
            group.severity = group.severity.max(severity);
            if group.signal_ids.len() < self.id_limit {
                group
                    .signal_ids
                    .push(cut_text(signal_id, ID_CAP).into_owned());
            }
            error.clone_into(&mut group.last_error);
            return Observed::Folded {
                pending: group.folded,
            };
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(
            fingerprint.clone(),
            Group {
                id,
                opened_at: now,
                severity,
                folded: 0,
                signal_ids: Vec::new(),
                last_error: error.to_owned(),
            },
        );
        Observed::Opened { group_id: id }
    }

    /// Closes the group `group_id` of `fingerprint` if it is still the open one.
    pub(crate) fn close(&mut self, fingerprint: &Fingerprint, group_id: u64) -> Option<Closed> {
        if self.open.get(fingerprint)?.id != group_id {
            return None;
        }
        let group = self.open.remove(fingerprint)?;
        Some(Closed {
            fingerprint: fingerprint.clone(),
            group,
        })
    }

    /// Closes every group (flush at shutdown), oldest first.
    pub(crate) fn drain(&mut self) -> Vec<Closed> {
        let mut closed: Vec<Closed> = self
            .open
            .drain()
            .map(|(fingerprint, group)| Closed { fingerprint, group })
            .collect();
        closed.sort_by_key(|c| c.group.id);
        closed
    }

    /// Folded alerts not yet in a summary.
    pub(crate) fn pending(&self) -> u64 {
        self.open.values().map(|g| g.folded).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(operation: &str, class: &str) -> Fingerprint {
        Fingerprint {
            operation: operation.to_owned(),
            error_class: class.to_owned(),
        }
    }

    #[test]
    fn first_opens_later_fold_and_close_returns_everything() {
        let mut groups = Groups::new(3);
        let now = Utc::now();
        let a = fp("deliver", "http_503");
        let Observed::Opened { group_id } = groups.observe(&a, "s0", Severity::Error, "e0", now)
        else {
            panic!("first must open");
        };
        for i in 1..100 {
            let severity = if i >= 2 {
                Severity::Critical
            } else {
                Severity::Error
            };
            let seen = groups.observe(&a, &format!("s{i}"), severity, &format!("e{i}"), now);
            assert_eq!(seen, Observed::Folded { pending: i });
        }
        assert_eq!(groups.pending(), 99);
        let closed = groups.close(&a, group_id).unwrap();
        assert_eq!(closed.group.folded, 99);
        assert_eq!(closed.group.signal_ids, ["s1", "s2", "s3"]);
        assert_eq!(closed.group.severity, Severity::Critical);
        assert_eq!(closed.group.last_error, "e99");
        assert!(groups.close(&a, group_id).is_none());
    }

    #[test]
    fn kinds_are_separate_and_stale_timers_do_not_close_new_groups() {
        let mut groups = Groups::new(20);
        let now = Utc::now();
        let a = fp("deliver", "http_503");
        let b = fp("deliver", "timeout");
        assert!(matches!(
            groups.observe(&a, "1", Severity::Error, "", now),
            Observed::Opened { .. }
        ));
        assert!(matches!(
            groups.observe(&b, "2", Severity::Error, "", now),
            Observed::Opened { .. }
        ));
        let drained = groups.drain();
        assert_eq!(drained.len(), 2);
        let Observed::Opened { group_id } = groups.observe(&a, "3", Severity::Error, "", now)
        else {
            panic!("reopens after drain");
        };
        assert!(groups.close(&a, drained[0].group.id).is_none());
        assert!(groups.close(&a, group_id).is_some());
    }
}
