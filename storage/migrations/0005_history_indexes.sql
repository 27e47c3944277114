-- History that stays fast: finished jobs can be pruned (JOB_RETENTION_DAYS) while the credit ledger stays
-- whole, and every query the bot runs per command, callback or poll reads an index, however long the
-- history grows.

-- 1. The ledger without its foreign key to jobs, so pruning a finished job keeps its ledger rows, job id
--    and all: refunds stay once per job (quota_ledger_once_per_job) and /quota history keeps naming the
--    job. SQLite cannot drop a constraint in place, so the table is rebuilt
--    (https://www.sqlite.org/lang_altertable.html#otheralter): same columns, same row ids, then the
--    indexes of 0002 and the triggers of 0003 and 0004 again (dropping the table dropped them). Copying
--    rows into the new table fires no trigger, so the running totals stay as they are.
--    tests/unit/test_retention_migration.py checks that the indexes and triggers come back word for word.
CREATE TABLE quota_ledger_new (
    id        INTEGER PRIMARY KEY,
    at        TEXT    NOT NULL,
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER,
    actor_id  INTEGER,
    kind      TEXT    NOT NULL CHECK (kind IN ('reserve', 'refund', 'grant', 'reset', 'limit', 'pool', 'default')),
    period    TEXT    NOT NULL,
    amount    INTEGER CHECK (amount IS NULL OR amount >= 0),
    job_id    TEXT,  -- the job charged or refunded; the job itself may have been pruned since
    detail    TEXT
);
INSERT INTO quota_ledger_new (id, at, guild_id, user_id, actor_id, kind, period, amount, job_id, detail)
SELECT id, at, guild_id, user_id, actor_id, kind, period, amount, job_id, detail FROM quota_ledger;
DROP TABLE quota_ledger;
ALTER TABLE quota_ledger_new RENAME TO quota_ledger;

CREATE INDEX quota_ledger_by_member ON quota_ledger (guild_id, user_id, period, kind);
CREATE INDEX quota_ledger_by_guild ON quota_ledger (guild_id, period, kind);
CREATE INDEX quota_ledger_history ON quota_ledger (guild_id, id);
-- A job is charged once and refunded at most once, whatever path fails it and however often.
CREATE UNIQUE INDEX quota_ledger_once_per_job ON quota_ledger (job_id, kind) WHERE job_id IS NOT NULL;

-- From 0003 (see there).
CREATE TRIGGER quota_reserve_counts AFTER INSERT ON quota_ledger WHEN NEW.kind = 'reserve'
BEGIN
    INSERT INTO quota_member_usage (guild_id, user_id, period, used) VALUES (NEW.guild_id, NEW.user_id, NEW.period, NEW.amount)
        ON CONFLICT (guild_id, user_id, period) DO UPDATE SET used = used + excluded.used;
    INSERT INTO quota_pool_usage (guild_id, period, used) VALUES (NEW.guild_id, NEW.period, NEW.amount)
        ON CONFLICT (guild_id, period) DO UPDATE SET used = used + excluded.used;
END;

CREATE TRIGGER quota_refund_counts AFTER INSERT ON quota_ledger WHEN NEW.kind = 'refund'
BEGIN
    UPDATE quota_pool_usage SET used = MAX(0, used - NEW.amount)
        WHERE guild_id = NEW.guild_id AND period = NEW.period;
    UPDATE quota_member_usage SET used = MAX(0, used - NEW.amount)
        WHERE guild_id = NEW.guild_id AND user_id = NEW.user_id AND period = NEW.period
          AND NOT EXISTS (
              SELECT 1 FROM quota_ledger AS s, quota_ledger AS r
              WHERE r.job_id = NEW.job_id AND r.kind = 'reserve'
                AND s.guild_id = NEW.guild_id AND s.user_id = NEW.user_id AND s.period = NEW.period
                AND s.kind = 'reset' AND s.id > r.id);
END;

CREATE TRIGGER quota_reset_counts AFTER INSERT ON quota_ledger WHEN NEW.kind = 'reset'
BEGIN
    INSERT INTO quota_member_usage (guild_id, user_id, period, used) VALUES (NEW.guild_id, NEW.user_id, NEW.period, 0)
        ON CONFLICT (guild_id, user_id, period) DO UPDATE SET used = 0;
END;

-- From 0004 (see there).
CREATE TRIGGER quota_reserve_counts_total AFTER INSERT ON quota_ledger WHEN NEW.kind = 'reserve'
BEGIN
    INSERT INTO quota_total_usage (period, used) VALUES (NEW.period, NEW.amount)
        ON CONFLICT (period) DO UPDATE SET used = used + excluded.used;
END;

CREATE TRIGGER quota_refund_counts_total AFTER INSERT ON quota_ledger WHEN NEW.kind = 'refund'
BEGIN
    UPDATE quota_total_usage SET used = MAX(0, used - NEW.amount) WHERE period = NEW.period;
END;

-- 2. Indexes for the hot paths (tests/unit/test_query_plans.py runs EXPLAIN QUERY PLAN on each query).
-- /quota history for one member, newest first: without it, SQLite sorts all of the member's rows.
CREATE INDEX quota_ledger_member_history ON quota_ledger (guild_id, user_id, id);
-- /jobs, newest first: with the id in the index too, a page comes in index order without sorting.
CREATE INDEX jobs_by_user_recent ON jobs (guild_id, user_id, created_at, id);
DROP INDEX jobs_by_user;
-- A member's jobs in flight, counted on every /video: only the active ones are read, not their whole history.
CREATE INDEX jobs_by_user_status ON jobs (guild_id, user_id, status);
-- Start-up recovery (by status) and pruning (finished, by age). It covers everything jobs_by_status did.
CREATE INDEX jobs_by_status_age ON jobs (status, updated_at);
DROP INDEX jobs_by_status;

-- 3. Jobs by status for /metrics, kept by triggers, so a scrape reads a handful of rows instead of
--    counting every job. Pruning does not lower them: the finished statuses count every job the bot ever
--    finished, so the series never drops when old history is removed.
CREATE TABLE job_status_counts (
    status TEXT    PRIMARY KEY,
    jobs   INTEGER NOT NULL DEFAULT 0
);

CREATE TRIGGER job_status_counts_insert AFTER INSERT ON jobs
BEGIN
    INSERT INTO job_status_counts (status, jobs) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET jobs = jobs + 1;
END;

CREATE TRIGGER job_status_counts_update AFTER UPDATE OF status ON jobs WHEN NEW.status IS NOT OLD.status
BEGIN
    UPDATE job_status_counts SET jobs = MAX(0, jobs - 1) WHERE status = OLD.status;
    INSERT INTO job_status_counts (status, jobs) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET jobs = jobs + 1;
END;

-- Counts for what the table already holds.
INSERT INTO job_status_counts (status, jobs) SELECT status, COUNT(*) FROM jobs GROUP BY status;
