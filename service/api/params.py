"""Parsing request input into checked values; every failure names the field, what came, what is expected."""
from __future__ import annotations

import json

from flask import request

from features.ids import ID_RULE, echo, is_id, product_key
from service.errors import ApiError


def bad_request(field: str, given, expected: str) -> ApiError:
    return ApiError(400, "bad_request", f"{field}: got {echo(given)}; expected {expected}")


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
    return checked_id(raw, field)


def checked_id(raw, field: str) -> str:
    """Any id (user, product, event, session, experiment): the one rule of features.ids; a JSON whole number is
    read as its digits, as the events do."""
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not is_id(text):
        raise bad_request(field, raw, ID_RULE)
    return text


def product_sku(raw, field: str = "product id") -> str:
    """A product id as the store writes it."""
    return checked_id(raw, field)


def product_id(raw, field: str = "product id") -> int:
    """A product id -> the key products are stored and ranked by (features.ids.product_key)."""
    return product_key(product_sku(raw, field))


def json_body():
    """The request's JSON (any type); a clear 400/415 when it is absent or malformed. NaN and Infinity
    are not JSON (RFC 8259), though Python's parser takes them: refused here, so no endpoint sees one."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type",
                       f"expected Content-Type application/json; got {echo(request.mimetype or 'none')}")
    try:
        return json.loads(request.get_data(cache=True), parse_constant=_not_json)
    except ValueError as exc:
        raise ApiError(400, "bad_request", f"the body is not valid JSON ({echo(str(exc))})") from None


def _not_json(constant: str):
    raise ValueError(f"{constant} is not a JSON value")
