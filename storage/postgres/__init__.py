"""The PostgreSQL backend (`DATABASE_URL=postgresql://...`): the same repositories as the SQLite store in
storage/, on an asyncpg pool, with migrations of its own in storage/postgres/migrations/."""
