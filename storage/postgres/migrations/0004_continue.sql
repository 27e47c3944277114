-- SQLite's 0010: Continue. The earlier job whose last frame starts this one, and that job's result post this
-- job's result replies to. No foreign key: a continuation outlives its pruned parent.
ALTER TABLE jobs ADD COLUMN parent_job_id text;
ALTER TABLE jobs ADD COLUMN reply_to_message_id bigint;
