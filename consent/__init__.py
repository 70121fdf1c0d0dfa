"""consent package (see ../shared/design.md)."""
