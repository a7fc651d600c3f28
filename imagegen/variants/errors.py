"""Errors of personalised variants (subclasses of the domain's TailorcardError)."""
from features.errors import TailorcardError


class VariantError(TailorcardError):
    """A variant cannot be made or found as asked (bad parameters, unknown product or segment, ...)."""


class VariantNotFound(VariantError):
    """No stored variant with this id (or the id is not a variant id)."""
