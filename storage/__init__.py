"""SQLite persistence. All SQL lives in this package."""
