-- Channels where a server's moderators want finished videos posted as spoilers (the video attached as a
-- spoiler, links hidden until clicked): `/moderation channels spoiler`. No rows for a server: none.
CREATE TABLE guild_spoiler_channels (
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
