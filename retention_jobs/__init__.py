"""retention_jobs package (see ../shared/design.md)."""
