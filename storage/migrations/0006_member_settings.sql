-- /settings and /queue: a member's own defaults for /video, the wish to get finished videos by direct
-- message recorded on each job, and an index for the recent generation times that /queue's estimates use.

-- One row per member per server. NULL: no default of their own (the provider's first choice applies).
CREATE TABLE member_settings (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    duration      INTEGER,
    aspect        TEXT,
    mode          TEXT,
    audio         INTEGER,  -- 0 or 1; NULL: off
    deliver_by_dm INTEGER NOT NULL DEFAULT 0,
    updated_at    TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- Taken from the member's settings when the job is accepted, so a later change does not move a job in flight.
ALTER TABLE jobs ADD COLUMN deliver_by_dm INTEGER NOT NULL DEFAULT 0;

-- The last N finished generations of a provider, newest first (tests/unit/test_query_plans.py): only jobs
-- the provider finished are in it, so it stays small next to the whole history.
CREATE INDEX jobs_generation_times ON jobs (provider, completed_at) WHERE completed_at IS NOT NULL;
