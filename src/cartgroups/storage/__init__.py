"""SQL storage (SQLAlchemy Core). Every function takes the connection, then the store, keyword-only."""
