"""The SQL catalogue: models, engine set-up and Alembic migrations."""
