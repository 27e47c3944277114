"""A self-hosted Discord bot for community Kling video generation on a shared provider account."""
