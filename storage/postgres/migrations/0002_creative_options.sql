-- SQLite's 0008: a job request's creative options. The last frame apart from the start image, a camera move
-- ({"name", "strength"}) and a storyboard's shots ([{"prompt", "duration"}]). (SQLite's data fix for jobs
-- made before it has nothing to fix here: PostgreSQL databases start after it.)
ALTER TABLE jobs ADD COLUMN end_image_url text;
ALTER TABLE jobs ADD COLUMN camera jsonb;
ALTER TABLE jobs ADD COLUMN shots jsonb NOT NULL DEFAULT '[]';
