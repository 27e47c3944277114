"""The interfaces the core owns. Adapters at the edge implement them: `bot/providers/` the provider,
`bot/discord_adapter/` the publisher, `bot/downloads/` the video source, `storage/` the repositories."""
