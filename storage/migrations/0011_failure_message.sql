-- A failed job's reason as the catalogue message it was made from (bot/core/messages.py `to_json`: its key and
-- parameters), so a status message shows it in its server's language. `last_error` keeps the English text for
-- the admin CLI, the ledger and logs. NULL for jobs failed before this migration: their English text is read
-- back against the catalogue's templates (bot/i18n/failures.py).
ALTER TABLE jobs ADD COLUMN failure TEXT;
