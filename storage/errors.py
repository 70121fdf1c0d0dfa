"""Exception hierarchy shared by every package (storage is the bottom layer, so it lives here)."""


class CallvaultError(Exception):
    """Base of every expected failure; the CLI prints its message as one line and exits 1."""


class StorageError(CallvaultError):
    """Catalogue, object store, spool or ingest failure."""


class NotFoundError(StorageError):
    """An ID that names nothing in the catalogue."""


class VersionGoneError(NotFoundError):
    """The stored version a reader pinned (e.g. a playback grant opened on the WAV) has been
    replaced by the recording's compact form and deleted since: the reader must open it again."""


class RejectedAudioError(StorageError):
    """Input audio that cannot be ingested (corrupt, unsupported, empty)."""


class IntegrityError(StorageError):
    """A stored object failed authentication or checksum verification.

    Deliberately opaque: it never says which check failed.
    """


class KeyUnavailableError(StorageError):
    """A data key cannot be wrapped or unwrapped (missing key-encryption key, wrong mode)."""


class ObjectStoreUnavailable(StorageError):
    """The object store could not be reached; the job stays in the spool for --resume."""
