-- Costs in money (`/quota spend`, SPEND_LIMIT_PER_DAY) and the confirmation a member gives before an expensive
-- video (CONFIRM_ABOVE_CREDITS).
--
-- Money is stored as INTEGER micro-units of the account's currency (1 USD = 1000000): sums in SQL stay exact
-- (SQLite would sum TEXT decimals as floating point), and a micro-unit is far below any price per second.
-- NULL: not known.
ALTER TABLE jobs ADD COLUMN estimated_cost INTEGER;  -- from PROVIDER_PRICES, when the job was accepted
ALTER TABLE jobs ADD COLUMN reported_cost INTEGER;   -- what the provider said it cost, in money
ALTER TABLE jobs ADD COLUMN reported_units INTEGER;  -- what the provider said, in its own units (micro-units)
ALTER TABLE jobs ADD COLUMN spend_day TEXT;          -- the UTC day (ISO date) the job's spend counts in

-- The daily limit sums one day's jobs inside the transaction that charges a job, and `/quota spend` a period's:
-- both read this index alone (it covers every column they need).
CREATE INDEX jobs_spend_by_day ON jobs (spend_day, status, guild_id, user_id, reported_cost, estimated_cost,
                                        reported_units) WHERE spend_day IS NOT NULL;

-- A `/video` (or Re-roll, Remix) waiting for the member's Confirm: what to start, kept until it is confirmed,
-- cancelled or expired, so that a restart in between loses nothing and a second click finds nothing to start.
CREATE TABLE pending_confirmations (
    token      TEXT    PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    payload    TEXT    NOT NULL,  -- JSON: what to start (bot/core/confirmations.py)
    created_at TEXT    NOT NULL
);
CREATE INDEX pending_confirmations_by_age ON pending_confirmations (created_at);
