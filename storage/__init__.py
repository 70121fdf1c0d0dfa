"""Everything at rest: catalogue, object stores, envelope encryption, ingest, retrieval, audit."""
