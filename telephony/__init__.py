"""telephony package (see ../shared/design.md)."""
