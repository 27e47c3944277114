-- The leader lease (storage/postgres/leadership.py, bot/core/leadership.py): one row naming the process that
-- dispatches, polls and delivers, until when. Judged by the database's clock (`now()`), never a process's.
--
-- This replaces the per-job lease 0001_schema.sql foresaw (`owner`, `lease_until` on jobs): one scheduler with
-- many front ends gives the same guarantees, because every job transition is conditional, with one row to
-- renew instead of one per job in flight.
CREATE TABLE leader (
    name        text        PRIMARY KEY,  -- what is led: 'jobs'
    owner       text        NOT NULL,     -- the process: host:pid:random
    lease_until timestamptz NOT NULL
);
