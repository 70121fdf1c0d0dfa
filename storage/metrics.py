"""The process's Prometheus metrics that code increments where things happen.

Bottom-level (storage is imported by every package), so telephony, retention_jobs and the
composition root count into the same registry. Gauges read from the catalogue or the spool at
scrape time are collected by callvault.observability instead. docs/operations.md lists every
metric with the alert to set on it. Labels hold only fixed words: never an ID or a number.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CALLS_ACTIVE = Gauge("callvault_calls_active", "Calls in progress on this agent")
CALLS_CAPACITY = Gauge("callvault_calls_capacity", "Concurrent calls this agent accepts")
CALLS = Counter(
    "callvault_calls",
    "Calls ended, by outcome (recorded, objected, do-not-record, abandoned…, rejected)",
    ["outcome"],
)
RECORDINGS_COMMITTED = Counter(
    "callvault_recordings_committed", "Recordings committed (object stored and catalogued)"
)
HANGUP_TO_COMMITTED = Histogram(
    "callvault_hangup_to_committed_seconds",
    "From a recorded call's hang-up to its recording committed",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)
INGEST_FAILURES = Counter(
    "callvault_ingest_failures",
    "Ingest attempts that did not store the recording, by result (deferred, failed, …)",
    ["result"],
)
PURGE_FAILURES = Counter("callvault_purge_failures", "Retention purge runs that failed")
PURGE_LAST_SUCCESS = Gauge(
    "callvault_purge_last_success_timestamp_seconds",
    "When this process last finished a retention purge run without error",
)
RECORDINGS_DESTROYED = Counter(
    "callvault_recordings_destroyed", "Recordings destroyed by the retention purge"
)
COMPRESSIONS = Counter(
    "callvault_compressions",
    "Compression jobs a worker finished a step of, by result (compressed, old-pending, retry, …)",
    ["result"],
)
JOB_RUNS = Counter(
    "callvault_job_runs",
    "Scheduled job triggers on this node: ran here, or skipped (another node has it)",
    ["job", "result"],
)


def ingest_result(state: str) -> None:
    """Count one ingest result (storage.ingest.IngestResult.state)."""
    if state == "stored":
        RECORDINGS_COMMITTED.inc()
    elif state not in ("already-stored", "busy"):
        INGEST_FAILURES.labels(result=state).inc()
