-- SQLite's 0011: a failed job's reason as the catalogue message it was made from (bot/core/messages.py
-- `to_json`), shown in the server's language; `last_error` keeps the English text.
ALTER TABLE jobs ADD COLUMN failure text;
