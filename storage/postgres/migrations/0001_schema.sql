-- The whole schema of SQLite migrations 0001 to 0007 (storage/migrations/), for PostgreSQL. PostgreSQL's
-- migrations are numbered on their own: this one is where a new database starts.
--
-- Types: ids from Discord are bigint, times timestamptz, JSON jsonb, flags boolean. A quota period is a
-- `date` (the start of the period, UTC), as the SQLite schema's ISO date text.
--
-- Jobs will later gain a lease (which process owns a job, until when: part 3 of the scale-out work) as
-- nullable columns added by a later migration (`owner text`, `lease_until timestamptz`, with an index on
-- (status, lease_until)); nothing here depends on a job having one owner.

CREATE TABLE jobs (
    id                text        PRIMARY KEY,
    guild_id          bigint      NOT NULL,
    channel_id        bigint      NOT NULL,
    user_id           bigint      NOT NULL,
    provider          text        NOT NULL,
    prompt            text        NOT NULL,
    duration          integer     NOT NULL,
    aspect            text        NOT NULL,
    mode              text        NOT NULL,
    negative_prompt   text,
    audio             boolean     NOT NULL DEFAULT false,
    image_urls        jsonb       NOT NULL DEFAULT '[]',
    cost              integer     NOT NULL DEFAULT 0,
    status            text        NOT NULL,
    status_message_id bigint,
    provider_job_id   text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    submitted_at      timestamptz,
    completed_at      timestamptz,
    attempts          integer     NOT NULL DEFAULT 0,
    submitting_since  timestamptz,  -- set while a submit is in the air: after a crash, resubmitting could bill twice
    last_error        text,
    video_url         text,
    delivery_outcome  text,
    result_message_id bigint,
    deliver_by_dm     boolean     NOT NULL DEFAULT false  -- taken from the member's settings when accepted
);
CREATE UNIQUE INDEX jobs_by_provider_job ON jobs (provider, provider_job_id) WHERE provider_job_id IS NOT NULL;
-- /jobs, newest first.
CREATE INDEX jobs_by_user_recent ON jobs (guild_id, user_id, created_at, id);
-- A member's jobs in flight, counted on every /video.
CREATE INDEX jobs_by_user_status ON jobs (guild_id, user_id, status);
-- Start-up recovery (by status) and pruning (finished, by age).
CREATE INDEX jobs_by_status_age ON jobs (status, updated_at);
-- The last N finished generations of a provider, newest first (/queue's estimates).
CREATE INDEX jobs_generation_times ON jobs (provider, completed_at) WHERE completed_at IS NOT NULL;

CREATE TABLE job_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      text        NOT NULL REFERENCES jobs (id),
    at          timestamptz NOT NULL,
    kind        text        NOT NULL,
    from_status text,
    to_status   text,
    detail      text
);
CREATE INDEX job_events_by_job ON job_events (job_id, id);

CREATE TABLE kv (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- The credit ledger: one row per change, the single source of truth (see SQLite's 0002 for the kinds). No
-- foreign key to jobs: pruning a finished job keeps its ledger rows, job id and all.
CREATE TABLE quota_ledger (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    guild_id  bigint      NOT NULL,
    user_id   bigint,
    actor_id  bigint,
    kind      text        NOT NULL CHECK (kind IN ('reserve', 'refund', 'grant', 'reset', 'limit', 'pool', 'default')),
    period    date        NOT NULL,
    amount    integer     CHECK (amount IS NULL OR amount >= 0),
    job_id    text,
    detail    text
);
CREATE INDEX quota_ledger_by_member ON quota_ledger (guild_id, user_id, period, kind);
CREATE INDEX quota_ledger_by_guild ON quota_ledger (guild_id, period, kind);
CREATE INDEX quota_ledger_history ON quota_ledger (guild_id, id);
CREATE INDEX quota_ledger_member_history ON quota_ledger (guild_id, user_id, id);
-- A job is charged once and refunded at most once, whatever path fails it and however often.
CREATE UNIQUE INDEX quota_ledger_once_per_job ON quota_ledger (job_id, kind) WHERE job_id IS NOT NULL;

CREATE TABLE quota_limits (
    guild_id bigint  NOT NULL,
    user_id  bigint  NOT NULL,
    credits  integer NOT NULL CHECK (credits >= 0),
    PRIMARY KEY (guild_id, user_id)
);

-- NULL: the operator's default from the environment.
CREATE TABLE guild_settings (
    guild_id      bigint  PRIMARY KEY,
    pool_limit    integer CHECK (pool_limit IS NULL OR pool_limit >= 0),
    default_quota integer CHECK (default_quota IS NULL OR default_quota >= 0),
    mod_role_id   bigint
);

CREATE TABLE guild_blocked_words (
    guild_id bigint NOT NULL,
    word     text   NOT NULL,
    PRIMARY KEY (guild_id, word)
);

CREATE TABLE guild_video_channels (
    guild_id   bigint NOT NULL,
    channel_id bigint NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

CREATE TABLE guild_spoiler_channels (
    guild_id   bigint NOT NULL,
    channel_id bigint NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

CREATE TABLE member_settings (
    guild_id      bigint      NOT NULL,
    user_id       bigint      NOT NULL,
    duration      integer,
    aspect        text,
    mode          text,
    audio         boolean,
    deliver_by_dm boolean     NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- Running totals of credits used, kept by the trigger below, as SQLite's 0003 and 0004 keep them. They are
-- also the rows every ledger write locks first (quota_lock), always in the same order: the period's total,
-- then the server's pool, then the member. A check and the charge it allows therefore never interleave
-- with another process's charge, refund, reset or limit change for the same member, server or period.
CREATE TABLE quota_member_usage (
    guild_id bigint NOT NULL,
    user_id  bigint NOT NULL,
    period   date   NOT NULL,
    used     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id, period)
);

CREATE TABLE quota_pool_usage (
    guild_id bigint NOT NULL,
    period   date   NOT NULL,
    used     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, period)
);

CREATE TABLE quota_total_usage (
    period date   PRIMARY KEY,
    used   bigint NOT NULL DEFAULT 0
);

CREATE FUNCTION quota_lock(p_period date, p_guild bigint, p_user bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO quota_total_usage (period) VALUES (p_period) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM quota_total_usage WHERE period = p_period FOR UPDATE;
    INSERT INTO quota_pool_usage (guild_id, period) VALUES (p_guild, p_period) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM quota_pool_usage WHERE guild_id = p_guild AND period = p_period FOR UPDATE;
    IF p_user IS NOT NULL THEN
        INSERT INTO quota_member_usage (guild_id, user_id, period) VALUES (p_guild, p_user, p_period)
            ON CONFLICT DO NOTHING;
        PERFORM 1 FROM quota_member_usage WHERE guild_id = p_guild AND user_id = p_user AND period = p_period
            FOR UPDATE;
    END IF;
END $$;

-- SQLite's quota_*_counts triggers in one: a charge adds to the member, the pool and the total; a refund gives
-- back to the pool and the total, and to the member only when no reset came after the charge; a reset clears
-- the member.
CREATE FUNCTION quota_ledger_totals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'reserve' THEN
        INSERT INTO quota_total_usage (period, used) VALUES (NEW.period, NEW.amount)
            ON CONFLICT (period) DO UPDATE SET used = quota_total_usage.used + EXCLUDED.used;
        INSERT INTO quota_pool_usage (guild_id, period, used) VALUES (NEW.guild_id, NEW.period, NEW.amount)
            ON CONFLICT (guild_id, period) DO UPDATE SET used = quota_pool_usage.used + EXCLUDED.used;
        INSERT INTO quota_member_usage (guild_id, user_id, period, used)
            VALUES (NEW.guild_id, NEW.user_id, NEW.period, NEW.amount)
            ON CONFLICT (guild_id, user_id, period) DO UPDATE SET used = quota_member_usage.used + EXCLUDED.used;
    ELSIF NEW.kind = 'refund' THEN
        UPDATE quota_total_usage SET used = GREATEST(0, used - NEW.amount) WHERE period = NEW.period;
        UPDATE quota_pool_usage SET used = GREATEST(0, used - NEW.amount)
            WHERE guild_id = NEW.guild_id AND period = NEW.period;
        UPDATE quota_member_usage SET used = GREATEST(0, used - NEW.amount)
            WHERE guild_id = NEW.guild_id AND user_id = NEW.user_id AND period = NEW.period
              AND NOT EXISTS (
                  SELECT 1 FROM quota_ledger AS s, quota_ledger AS r
                  WHERE r.job_id = NEW.job_id AND r.kind = 'reserve'
                    AND s.guild_id = NEW.guild_id AND s.user_id = NEW.user_id AND s.period = NEW.period
                    AND s.kind = 'reset' AND s.id > r.id);
    ELSIF NEW.kind = 'reset' THEN
        INSERT INTO quota_member_usage (guild_id, user_id, period, used) VALUES (NEW.guild_id, NEW.user_id, NEW.period, 0)
            ON CONFLICT (guild_id, user_id, period) DO UPDATE SET used = 0;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER quota_ledger_totals AFTER INSERT ON quota_ledger
    FOR EACH ROW EXECUTE FUNCTION quota_ledger_totals();

-- Jobs by status for /metrics, kept by a trigger as SQLite's 0005 keeps them, so a scrape reads a few rows
-- instead of counting every job; pruning does not lower them. Unlike SQLite's one row per status, each
-- status has up to 32 slots, chosen by the database session (pg_backend_pid() % 32), summed when read: one
-- row per status would be updated by every job transition of every process, and its row lock would queue
-- them all behind each other. A slot may go below zero; the sum per status never does.
CREATE TABLE job_status_counts (
    status text     NOT NULL,
    slot   smallint NOT NULL,
    jobs   bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (status, slot)
);

CREATE FUNCTION job_status_count_add(p_status text, p_delta integer) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO job_status_counts (status, slot, jobs) VALUES (p_status, pg_backend_pid() % 32, p_delta)
        ON CONFLICT (status, slot) DO UPDATE SET jobs = job_status_counts.jobs + EXCLUDED.jobs;
$$;

CREATE FUNCTION job_status_counts_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM job_status_count_add(NEW.status, 1);
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        -- Two slot rows, always in the same (name) order, so two sessions sharing a slot never wait on
        -- each other in a circle.
        IF OLD.status < NEW.status THEN
            PERFORM job_status_count_add(OLD.status, -1);
            PERFORM job_status_count_add(NEW.status, 1);
        ELSE
            PERFORM job_status_count_add(NEW.status, 1);
            PERFORM job_status_count_add(OLD.status, -1);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER job_status_counts_insert AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION job_status_counts_follow();
CREATE TRIGGER job_status_counts_update AFTER UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION job_status_counts_follow();
