-- Jobs, their event log, and a small key-value table for generated secrets.
CREATE TABLE jobs (
    id                TEXT PRIMARY KEY,
    guild_id          INTEGER NOT NULL,
    channel_id        INTEGER NOT NULL,
    user_id           INTEGER NOT NULL,
    provider          TEXT    NOT NULL,
    prompt            TEXT    NOT NULL,
    duration          INTEGER NOT NULL,
    aspect            TEXT    NOT NULL,
    mode              TEXT    NOT NULL,
    negative_prompt   TEXT,
    audio             INTEGER NOT NULL DEFAULT 0,
    image_urls        TEXT    NOT NULL DEFAULT '[]',
    cost              INTEGER NOT NULL DEFAULT 0,
    status            TEXT    NOT NULL,
    status_message_id INTEGER,
    provider_job_id   TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    submitted_at      TEXT,
    completed_at      TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    submitting_since  TEXT,     -- set while a submit is in the air: after a crash, resubmitting could bill twice
    last_error        TEXT,
    video_url         TEXT,
    delivery_outcome  TEXT,
    result_message_id INTEGER
);
CREATE INDEX jobs_by_status ON jobs (status);
CREATE INDEX jobs_by_user ON jobs (guild_id, user_id, created_at);
CREATE UNIQUE INDEX jobs_by_provider_job ON jobs (provider, provider_job_id) WHERE provider_job_id IS NOT NULL;

CREATE TABLE job_events (
    id          INTEGER PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    detail      TEXT
);
CREATE INDEX job_events_by_job ON job_events (job_id, id);

CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
