//! Telegram ops alerts on teloxide: formatted, escaped, grouped against spam,
//! rate-limited, retried themselves, and never leaking the bot token.
