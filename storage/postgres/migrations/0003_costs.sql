-- SQLite's 0009: costs in money and the confirmations members give before an expensive video.
-- Money in integer micro-units of the account's currency (storage/spend.py), as on SQLite, so both backends
-- share one conversion and sums stay exact.
ALTER TABLE jobs ADD COLUMN estimated_cost bigint;  -- from PROVIDER_PRICES, when the job was accepted
ALTER TABLE jobs ADD COLUMN reported_cost bigint;   -- what the provider said it cost, in money
ALTER TABLE jobs ADD COLUMN reported_units bigint;  -- what the provider said, in its own units (micro-units)
ALTER TABLE jobs ADD COLUMN spend_day date;         -- the UTC day the job's spend counts in

CREATE INDEX jobs_spend_by_day ON jobs (spend_day, status, guild_id, user_id)
    INCLUDE (reported_cost, estimated_cost, reported_units) WHERE spend_day IS NOT NULL;

-- One row per UTC day that has spend: the row SPEND_LIMIT_PER_DAY's check locks (after the quota counters,
-- storage/postgres/quotas.py), so two processes cannot both fit a job into the day's last room.
CREATE TABLE spend_days (
    day date PRIMARY KEY
);

CREATE TABLE pending_confirmations (
    token      text        PRIMARY KEY,
    guild_id   bigint      NOT NULL,
    user_id    bigint      NOT NULL,
    payload    jsonb       NOT NULL,  -- what to start (bot/core/confirmations.py)
    created_at timestamptz NOT NULL
);
CREATE INDEX pending_confirmations_by_age ON pending_confirmations (created_at);
