"""The quality package's failures (one line each, naming the form, question or recording)."""

from storage.errors import CallvaultError


class QualityError(CallvaultError):
    """A form, answer, comment or evaluation that cannot be accepted; the message says why."""


class FormError(QualityError):
    """A form definition that breaks a rule (weights, question kinds, ids)."""


class AnswerError(QualityError):
    """Answers or comments that do not fit the form version or the recording."""
