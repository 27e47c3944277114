-- Creative options of a job's request (bot/core/models.py VideoRequest): the last frame apart from the start
-- image, a camera move (JSON {"name", "strength"}), and a storyboard's shots (JSON [{"prompt", "duration"}]).
ALTER TABLE jobs ADD COLUMN end_image_url TEXT;
ALTER TABLE jobs ADD COLUMN camera TEXT;
ALTER TABLE jobs ADD COLUMN shots TEXT NOT NULL DEFAULT '[]';

-- Until now these providers took a second image as the last frame (Kling's `image_tail`, segmind's
-- `end_image_url`, runbase's last frame image): it is the end image from now on, so Re-roll and Remix of
-- those jobs keep it.
UPDATE jobs
   SET end_image_url = json_extract(image_urls, '$[1]'),
       image_urls = json_array(json_extract(image_urls, '$[0]'))
 WHERE provider IN ('kling', 'cometapi', 'segmind', 'runbase')
   AND json_valid(image_urls) AND json_array_length(image_urls) = 2;
