"""Parsing request input into checked values; every failure names the field, what came, what is expected."""
from __future__ import annotations

import re

from flask import request

from service.errors import ApiError

USER_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
INT64_MAX = 2**63 - 1


def bad_request(field: str, given, expected: str) -> ApiError:
    return ApiError(400, "bad_request", f"{field}: got {given!r}; expected {expected}")


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(name, raw, f"an integer in {low}..{high}") from None
    if not low <= value <= high:
        raise bad_request(name, value, f"an integer in {low}..{high}")
    return value


def user_id(raw, field: str = "user id") -> str:
    if not isinstance(raw, str) or not USER_ID.match(raw):
        raise bad_request(field, raw, "1-128 characters of letters, digits and _.:@-")
    return raw


def item_id(raw: int) -> int:
    if raw > INT64_MAX:
        raise bad_request("item id", raw, f"an integer in 0..{INT64_MAX}")
    return raw


def json_body():
    """The request's JSON (any type); a clear 400/415 when it is absent or malformed."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type",
                       f"expected Content-Type application/json; got {request.mimetype or 'none'!r}")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "bad_request", "the body is not valid JSON")
    return body
