//! A fake Telegram Bot API on 127.0.0.1 that records messages and answers as scripted.
