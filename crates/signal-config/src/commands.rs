//! Two-way Telegram ops: `OPS_TELEGRAM_COMMANDS` and
//! `OPS_TELEGRAM_ADMIN_USER_IDS`.
//!
//! Commands act on a trading system, so the checks here refuse every
//! configuration in which they could be reached by anyone but the listed
//! admins: commands on with nobody listed, commands on without Telegram, and
//! commands on with an ops chat given as `@channelname` (channel posts carry
//! no sender, so an allow-list of users could never be checked there).

use ops_alerts::ChatTarget;

use crate::names::{
    OPS_ALERTS_DISABLED, OPS_TELEGRAM_ADMIN_USER_IDS, OPS_TELEGRAM_CHAT_ID, OPS_TELEGRAM_COMMANDS,
};
use crate::problem::ConfigProblem;
use crate::values::{parse_bool, shown};

/// Whether the bot answers commands, and whom.
///
/// Default: off, nobody listed.
///
/// ```
/// use signal_config::CommandSettings;
///
/// let on = CommandSettings::from_lookup(&|name: &str| match name {
///     "OPS_TELEGRAM_COMMANDS" => Some("true".to_owned()),
///     "OPS_TELEGRAM_ADMIN_USER_IDS" => Some("111, 222".to_owned()),
///     _ => None,
/// })
/// .unwrap();
/// assert!(on.enabled);
/// assert_eq!(on.admin_user_ids, [111, 222]);
/// assert!(on.is_admin(222));
/// assert!(!on.is_admin(333));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandSettings {
    /// `OPS_TELEGRAM_COMMANDS`: long-poll the Bot API and answer commands.
    pub enabled: bool,
    /// `OPS_TELEGRAM_ADMIN_USER_IDS`: the Telegram user ids allowed to act,
    /// in the order given, without repeats.
    pub admin_user_ids: Vec<u64>,
}

/// The allowed form of the admin list, as errors name it.
pub const ADMIN_IDS_FORM: &str = "comma-separated numeric Telegram user ids, e.g. 123456789,987654321 (ask @userinfobot for yours)";

impl CommandSettings {
    /// Reads the two variables through `lookup`, every problem at once. The
    /// list is parsed even with commands off, so a typo shows before it is
    /// needed.
    ///
    /// # Errors
    /// A bad boolean; a list entry that is not a positive integer (named,
    /// with its position); commands on with an empty list.
    pub fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<CommandSettings, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let enabled = parse_bool(lookup, OPS_TELEGRAM_COMMANDS)
            .map_err(|p| problems.push(p))
            .ok()
            .map(Option::unwrap_or_default);
        let admin_user_ids = match lookup(OPS_TELEGRAM_ADMIN_USER_IDS) {
            None => Some(Vec::new()),
            Some(value) => parse_ids(&value).map_err(|p| problems.push(p)).ok(),
        };
        if enabled == Some(true) && admin_user_ids.as_ref().is_some_and(Vec::is_empty) {
            problems.push(ConfigProblem::new(
                OPS_TELEGRAM_ADMIN_USER_IDS,
                format!(
                    "{OPS_TELEGRAM_ADMIN_USER_IDS} is empty or unset while {OPS_TELEGRAM_COMMANDS}=true: \
                     nobody could act, and the bot must not answer strangers; set it to {ADMIN_IDS_FORM}, \
                     or set {OPS_TELEGRAM_COMMANDS}=false"
                ),
            ));
        }
        match (enabled, admin_user_ids) {
            (Some(enabled), Some(admin_user_ids)) if problems.is_empty() => Ok(CommandSettings {
                enabled,
                admin_user_ids,
            }),
            _ => Err(problems),
        }
    }

    /// Whether this Telegram user may act.
    pub fn is_admin(&self, user_id: u64) -> bool {
        self.admin_user_ids.contains(&user_id)
    }

    /// The checks that need the alert settings: commands need Telegram, and
    /// an ops chat with a numeric id (`alerts_chat` is `None` when
    /// `OPS_ALERTS_DISABLED=true`).
    pub(crate) fn check_chat(&self, alerts_chat: Option<&ChatTarget>) -> Option<ConfigProblem> {
        if !self.enabled {
            return None;
        }
        match alerts_chat {
            None => Some(ConfigProblem::new(
                OPS_TELEGRAM_COMMANDS,
                format!(
                    "{OPS_TELEGRAM_COMMANDS}=true needs Telegram, but {OPS_ALERTS_DISABLED}=true; \
                     set {OPS_TELEGRAM_COMMANDS}=false, or configure the bot and unset {OPS_ALERTS_DISABLED}"
                ),
            )),
            Some(ChatTarget::Username(_)) => Some(ConfigProblem::new(
                OPS_TELEGRAM_CHAT_ID,
                format!(
                    "{OPS_TELEGRAM_CHAT_ID} is an @channelname while {OPS_TELEGRAM_COMMANDS}=true: \
                     channel posts carry no user, so nobody's id could be checked; set \
                     {OPS_TELEGRAM_CHAT_ID} to the numeric id of a private chat, group or supergroup \
                     (e.g. -1001234567890), or set {OPS_TELEGRAM_COMMANDS}=false"
                ),
            )),
            Some(ChatTarget::Id(_)) => None,
        }
    }
}

/// `111,222` into ids; the first bad entry is named with its position.
fn parse_ids(value: &str) -> Result<Vec<u64>, ConfigProblem> {
    let mut ids = Vec::new();
    if value.trim().is_empty() {
        return Ok(ids);
    }
    for (index, entry) in value.split(',').enumerate() {
        let entry = entry.trim();
        match entry.parse::<u64>() {
            Ok(id) if id > 0 => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            _ => {
                return Err(ConfigProblem::new(
                    OPS_TELEGRAM_ADMIN_USER_IDS,
                    format!(
                        "{OPS_TELEGRAM_ADMIN_USER_IDS}: entry {} ({:?}) is not a Telegram user id; expected {ADMIN_IDS_FORM}",
                        index + 1,
                        shown(entry)
                    ),
                ));
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn off_by_default_and_the_list_may_be_empty_then() {
        assert_eq!(
            CommandSettings::from_lookup(&lookup(&[])),
            Ok(CommandSettings::default())
        );
        let off = CommandSettings::from_lookup(&lookup(&[(OPS_TELEGRAM_COMMANDS, "false")]));
        assert_eq!(off, Ok(CommandSettings::default()));
    }

    #[test]
    fn ids_are_trimmed_and_deduplicated() {
        let settings = CommandSettings::from_lookup(&lookup(&[
            (OPS_TELEGRAM_COMMANDS, "true"),
            (OPS_TELEGRAM_ADMIN_USER_IDS, " 5 ,7,5"),
        ]))
        .unwrap();
        assert_eq!(settings.admin_user_ids, [5, 7]);
    }

    #[test]
    fn every_bad_value_is_named_with_the_allowed_form() {
        for (vars, needle) in [
            (
                &[(OPS_TELEGRAM_COMMANDS, "maybe")][..],
                "OPS_TELEGRAM_COMMANDS=\"maybe\" is not a boolean; expected true or false",
            ),
            (
                &[(OPS_TELEGRAM_ADMIN_USER_IDS, "12,@alice,3")][..],
                "entry 2 (\"@alice\") is not a Telegram user id; expected comma-separated numeric",
            ),
            (
                &[(OPS_TELEGRAM_ADMIN_USER_IDS, "12,,3")][..],
                "entry 2 (\"\") is not a Telegram user id",
            ),
            (
                &[(OPS_TELEGRAM_ADMIN_USER_IDS, "-5")][..],
                "entry 1 (\"-5\")",
            ),
            (
                &[(OPS_TELEGRAM_COMMANDS, "true")][..],
                "OPS_TELEGRAM_ADMIN_USER_IDS is empty or unset while OPS_TELEGRAM_COMMANDS=true",
            ),
            (
                &[
                    (OPS_TELEGRAM_COMMANDS, "true"),
                    (OPS_TELEGRAM_ADMIN_USER_IDS, " "),
                ][..],
                "set it to comma-separated numeric Telegram user ids",
            ),
        ] {
            let problems = CommandSettings::from_lookup(&lookup(vars)).unwrap_err();
            assert_eq!(problems.len(), 1, "{vars:?}");
            assert!(problems[0].to_string().contains(needle), "{}", problems[0]);
        }
    }

    #[test]
    fn commands_need_a_numeric_ops_chat_and_telegram() {
        let on = CommandSettings {
            enabled: true,
            admin_user_ids: vec![1],
        };
        assert_eq!(on.check_chat(Some(&ChatTarget::Id(-100_123))), None);
        let channel = on
            .check_chat(Some(&ChatTarget::Username("@ops".into())))
            .unwrap();
        assert_eq!(channel.variable, OPS_TELEGRAM_CHAT_ID);
        assert!(channel.message.contains("channel posts carry no user"));
        assert!(channel.message.contains("numeric id"));
        let disabled = on.check_chat(None).unwrap();
        assert_eq!(disabled.variable, OPS_TELEGRAM_COMMANDS);
        assert!(disabled.message.contains("OPS_ALERTS_DISABLED=true"));
        let off = CommandSettings::default();
        assert_eq!(
            off.check_chat(Some(&ChatTarget::Username("@ops".into()))),
            None
        );
        assert_eq!(off.check_chat(None), None);
    }
}
