"""The portal's failures, each mapped to one HTTP status (and one RFC 9457 problem)."""

from __future__ import annotations

from storage.errors import CallvaultError


class PortalError(CallvaultError):
    """Base of the portal's expected failures."""

    status = 400
    title = "Bad request"


class BadInput(PortalError):
    status = 400
    title = "Bad request"


class NotAuthenticated(PortalError):
    status = 401
    title = "Not authenticated"


class Forbidden(PortalError):
    status = 403
    title = "Forbidden"


class NotFound(PortalError):
    status = 404
    title = "Not found"


class Throttled(PortalError):
    status = 429
    title = "Too many failed logins"


class Unsatisfiable(PortalError):
    status = 416
    title = "Range not satisfiable"

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class Conflict(PortalError):
    status = 409
    title = "Conflict"


class Gone(PortalError):
    status = 410
    title = "Gone"


class TooLarge(PortalError):
    status = 413
    title = "Content too large"


class UnsupportedMediaType(PortalError):
    status = 415
    title = "Unsupported media type"


class Unprocessable(PortalError):
    status = 422
    title = "Unprocessable content"
