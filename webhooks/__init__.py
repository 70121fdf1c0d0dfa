"""Outbound webhooks (Standard Webhooks): endpoints, signing and the delivery worker.

Infrastructure, not domain: the domain writes events with storage.outbox.emit in its own
transactions and never sends; this package reads the outbox and delivers. It depends on
storage only and is wired by callvault/ (the CLI and `callvault serve`).
"""
