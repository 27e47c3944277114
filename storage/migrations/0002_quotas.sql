-- Quotas: a ledger of every credit change, per-member limits, and per-server settings.

-- One row per change. Balances are computed from it, so it is the single source of truth:
--   reserve  amount = a job's cost (charged to the member and to the server's pool)
--   refund   amount = the same cost given back (exactly once per job: see the unique index)
--   grant    amount = extra credits for the member in this period
--   reset    amount = the credits the member had used in this period, now cleared
--   limit    amount = the member's new per-period limit (NULL: back to the server default)
--   pool     amount = the server's new pool limit (0: no pool)
--   default  amount = the server's new default limit for members
-- `period` is the start of the quota period the row belongs to (ISO date, UTC).
-- `actor_id` is who made the change; NULL for the bot itself (refunds).
CREATE TABLE quota_ledger (
    id        INTEGER PRIMARY KEY,
    at        TEXT    NOT NULL,
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER,
    actor_id  INTEGER,
    kind      TEXT    NOT NULL CHECK (kind IN ('reserve', 'refund', 'grant', 'reset', 'limit', 'pool', 'default')),
    period    TEXT    NOT NULL,
    amount    INTEGER CHECK (amount IS NULL OR amount >= 0),
    job_id    TEXT REFERENCES jobs (id),
    detail    TEXT
);
CREATE INDEX quota_ledger_by_member ON quota_ledger (guild_id, user_id, period, kind);
CREATE INDEX quota_ledger_by_guild ON quota_ledger (guild_id, period, kind);
CREATE INDEX quota_ledger_history ON quota_ledger (guild_id, id);
-- A job is charged once and refunded at most once, whatever path fails it and however often.
CREATE UNIQUE INDEX quota_ledger_once_per_job ON quota_ledger (job_id, kind) WHERE job_id IS NOT NULL;

-- A moderator's per-member override of the server default.
CREATE TABLE quota_limits (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    credits  INTEGER NOT NULL CHECK (credits >= 0),
    PRIMARY KEY (guild_id, user_id)
);

-- Per-server settings; NULL means "the operator's default from the environment".
CREATE TABLE guild_settings (
    guild_id      INTEGER PRIMARY KEY,
    pool_limit    INTEGER CHECK (pool_limit IS NULL OR pool_limit >= 0),
    default_quota INTEGER CHECK (default_quota IS NULL OR default_quota >= 0),
    mod_role_id   INTEGER
);

CREATE TABLE guild_blocked_words (
    guild_id INTEGER NOT NULL,
    word     TEXT    NOT NULL,
    PRIMARY KEY (guild_id, word)
);

-- Where /video may be used; no rows for a server: everywhere.
CREATE TABLE guild_video_channels (
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
