//! Who may act: an admin on the allow-list, in the ops chat. Everyone else
//! gets silence (no reply at all: not even a hint that commands exist), a
//! WARN line with their ids, and a count in
//! [`OPS_COMMANDS_REFUSED_TOTAL`](super::metrics::OPS_COMMANDS_REFUSED_TOTAL).

use super::metrics::{self, Refusal};
use super::update::Incoming;

/// The allow-list and the one chat commands are taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    admins: Vec<u64>,
    ops_chat: i64,
}

impl Gate {
    /// Admins `admins`, acting only in chat `ops_chat`.
    pub fn new(admins: Vec<u64>, ops_chat: i64) -> Gate {
        Gate { admins, ops_chat }
    }

    /// The ops chat.
    pub fn ops_chat(&self) -> i64 {
        self.ops_chat
    }

    /// `Ok(user id)` if `message` may act; otherwise logs and counts the
    /// refusal and returns why. The text is not logged: a stranger's
    /// message is theirs, and may hold anything.
    pub(crate) fn admit(&self, message: &Incoming) -> Result<u64, Refusal> {
        let refusal = match message.user_id {
            Some(user) if self.admins.contains(&user) => {
                if message.chat_id == self.ops_chat {
                    return Ok(user);
                }
                Refusal::Chat
            }
            _ => Refusal::User,
        };
        tracing::warn!(
            user_id = message.user_id,
            chat_id = message.chat_id,
            why = refusal.as_str(),
            "refused an ops command: only admins listed in OPS_TELEGRAM_ADMIN_USER_IDS may act, \
             and only in OPS_TELEGRAM_CHAT_ID; nothing was answered"
        );
        metrics::refused(refusal);
        Err(refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(user_id: Option<u64>, chat_id: i64) -> Incoming {
        Incoming {
            chat_id,
            user_id,
            date: 0,
            text: "/status".into(),
        }
    }

    #[test]
    fn only_admins_in_the_ops_chat() {
        let gate = Gate::new(vec![7, 8], -100);
        assert_eq!(gate.admit(&from(Some(8), -100)), Ok(8));
        assert_eq!(gate.admit(&from(Some(9), -100)), Err(Refusal::User));
        assert_eq!(gate.admit(&from(None, -100)), Err(Refusal::User));
        assert_eq!(gate.admit(&from(Some(7), 7)), Err(Refusal::Chat));
        assert_eq!(gate.admit(&from(Some(9), 9)), Err(Refusal::User));
    }
}
