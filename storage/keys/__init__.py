"""Key-encryption keys (KEKs) that wrap the per-recording data keysets."""
