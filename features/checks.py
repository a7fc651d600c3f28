"""The checks every config and settings dataclass shares (diffusers-style check_inputs): each field by type and
range, and the keys of a config read from JSON, so a typo or a field of another version is refused by name,
never silently dropped or left to fail later as a TypeError or a ZeroDivisionError."""
from __future__ import annotations

import math
import numbers
from dataclasses import MISSING, fields

from features.ids import echo


def whole(value, low: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def number(value, low: float = -math.inf, high: float = math.inf, above: bool = False) -> bool:
    """A finite real in [low, high] (in (low, high] with `above`); bools are not numbers here."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        return False
    return (value > low if above else value >= low) and value <= high


def check_fields(settings, error: type[Exception], rules) -> None:
    """`rules`: (field name, whether its value fits, what is expected) for every field of `settings`."""
    for name, fits, expected in rules:
        if not fits:
            raise error(f"{type(settings).__name__}.{name} must be {expected}; got {echo(getattr(settings, name))}")


def from_fields(cls, values, where: str, error: type[Exception]):
    """`cls(**values)` for a dataclass read from JSON, refusing unknown and missing fields by name; the errors of
    its own checks (and a TypeError of a value of the wrong kind) say `where` and come as `error`."""
    known = [f.name for f in fields(cls)]
    if not isinstance(values, dict):
        raise error(f"{where} must be an object with fields among {known}; got {echo(values)}")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise error(f"{where} has unknown field(s) {unknown}; expected some of {known}")
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise error(f"{where} lacks field(s) {missing}; {required} are required")
    try:
        return cls(**values)
    except (TypeError, error) as exc:
        raise error(f"{where}: {exc}") from None
