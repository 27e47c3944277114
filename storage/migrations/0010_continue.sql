-- Continue (bot/core/continuing.py): a job started from the last frame of an earlier job's clip, and the
-- earlier job's result post that its own result replies to (a chain of clips). NULL for every other job.
-- No foreign key: jobs are pruned one by one (JOB_RETENTION_DAYS), and a continuation outlives its parent.
ALTER TABLE jobs ADD COLUMN parent_job_id TEXT;
ALTER TABLE jobs ADD COLUMN reply_to_message_id INTEGER;
