"""Watching a running process: Prometheus metrics, /healthz and /readyz, JSON logs.

Counters live where things happen (storage.metrics); this package adds the gauges read at
scrape time (spool, queues, audit chain, readiness) and serves them on a port of the process's
own. docs/operations.md lists every metric and the alert to set on it.
"""
