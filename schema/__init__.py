"""The network store: SQLAlchemy schema, DuckDB releases, bulk writes and read-only queries."""
