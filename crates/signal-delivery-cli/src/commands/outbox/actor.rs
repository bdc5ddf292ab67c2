//! Who runs an operator command, for the audit log.
//!
//! The user comes from the process's real uid through the password
//! database (`getpwuid_r`, so LDAP or sssd users resolve too), not from
//! `$USER`: anyone can set `USER=bob` in front of a command, and `sudo`
//! changes it in ways that depend on its configuration. `$USER`/`$LOGNAME`
//! are read only when the uid has no entry (a container started with an
//! arbitrary uid), and the audit detail says where the name came from.
//! `nix` is the well-kept safe wrapper of those calls (the workspace
//! forbids `unsafe`).

use nix::unistd::{Uid, User, gethostname};
use serde::Serialize;

/// The operating-system identity of this process.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Actor {
    /// The user name.
    pub(super) user: String,
    /// Where the name came from: `passwd`, `USER`, `LOGNAME` or `uid`.
    pub(super) user_source: &'static str,
    /// The real uid.
    pub(super) uid: u32,
    /// `$SUDO_USER` when running as root through sudo (as the environment
    /// says: informative, not proof).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sudo_user: Option<String>,
    /// This host's name.
    pub(super) host: String,
    /// This process.
    pub(super) pid: u32,
}

impl Actor {
    /// This process's identity.
    pub(super) fn current() -> Actor {
        let uid = Uid::current();
        let (user, user_source) = match User::from_uid(uid) {
            Ok(Some(user)) => (user.name, "passwd"),
            _ => ["USER", "LOGNAME"]
                .into_iter()
                .find_map(|name| {
                    std::env::var(name)
                        .ok()
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| (v, name))
                })
                .unwrap_or_else(|| (format!("uid-{uid}"), "uid")),
        };
        let sudo_user = uid
            .is_root()
            .then(|| std::env::var("SUDO_USER").ok())
            .flatten()
            .filter(|v| !v.trim().is_empty());
        let host = gethostname()
            .ok()
            .map(|h| h.to_string_lossy().into_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown-host".to_owned());
        Actor {
            user,
            user_source,
            uid: uid.as_raw(),
            sudo_user,
            host,
            pid: std::process::id(),
        }
    }

    /// `os:alice@host pid 123`, the audit log's `actor`.
    pub(super) fn label(&self) -> String {
        format!("os:{}@{} pid {}", self.user, self.host, self.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_is_this_process_and_its_real_user() {
        let actor = Actor::current();
        assert_eq!(actor.pid, std::process::id());
        assert_eq!(actor.uid, Uid::current().as_raw());
        if let Ok(Some(user)) = User::from_uid(Uid::current()) {
            assert_eq!(
                (actor.user.as_str(), actor.user_source),
                (user.name.as_str(), "passwd")
            );
        }
        assert_eq!(
            actor.label(),
            format!("os:{}@{} pid {}", actor.user, actor.host, actor.pid)
        );
    }
}
