"""Errors of the image generator (subclasses of the domain's TailorcardError)."""
from features.errors import TailorcardError


class TrainingError(TailorcardError):
    """Training inputs are missing or inconsistent (no images, conditions of the wrong shape, ...)."""


class BenchError(TailorcardError):
    """A benchmark cannot run on what it was given (too few held-out products, ...)."""


class PresentationError(TailorcardError):
    """A presentation policy or request is malformed (an unknown kind, a setting out of range, ...)."""
