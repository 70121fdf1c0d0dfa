"""The SQL catalogue: models, engine set-up and Alembic migrations."""

from storage.catalogue import job_runs as _job_runs  # noqa: F401 - registers job_runs on Base
