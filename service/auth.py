"""API keys with scopes, compared in constant time, and a per-key rate limit.

Keys come from config `API_KEYS`: a list of {"name", "key", "scopes"}. Roles are named sets of
scopes: a storefront key reads cards and sends events, an admin key changes items, an analyst
key reads experiments. Clients send `Authorization: Bearer <key>` (or `X-API-Key: <key>`).
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from flask import current_app, g, request

from service.deps import deps
from service.errors import ApiError

ROLES = {"storefront": ["cards", "events"], "admin": ["items"], "analyst": ["experiments"]}


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes
    scopes: frozenset


def new_key(role: str) -> dict:
    """A fresh random key for a role, in the API_KEYS format."""
    return {"name": role, "key": f"tc_{role}_{secrets.token_urlsafe(24)}", "scopes": ROLES[role]}


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def load_keys(entries: list[dict]) -> list[ApiKey]:
    keys = []
    for position, entry in enumerate(entries):
        unknown = set(entry.get("scopes", [])) - {s for scopes in ROLES.values() for s in scopes}
        if not entry.get("key") or not entry.get("name") or unknown:
            raise ValueError(f"API_KEYS[{position}] needs 'name', 'key' and known 'scopes' "
                             f"(got {sorted(entry)}; unknown scopes {sorted(unknown)})")
        keys.append(ApiKey(entry["name"], _digest(entry["key"]), frozenset(entry["scopes"])))
    return keys


def find_key(keys: list[ApiKey], given: str) -> ApiKey | None:
    """Compare against every key, without stopping early, so timing says nothing about which matched."""
    digest, found = _digest(given), None
    for key in keys:
        if hmac.compare_digest(digest, key.digest):
            found = key
    return found


class RateLimiter:
    """Token bucket per key name: `rate` requests per second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = float(rate), float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_time(self, name: str) -> float:
        """Take one token; 0 if allowed, else seconds until a token is due."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(name, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[name] = (tokens - 1, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1 - tokens) / self.rate


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer "):].strip()
    return request.headers.get("X-API-Key")


def require_scope(*scopes: str):
    """Decorator: the request must carry a key holding one of `scopes`, within its rate limit."""
    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            g.api_key = authenticate(scopes)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def authenticate(scopes: tuple[str, ...]) -> ApiKey:
    given = _presented_key()
    if not given:
        raise ApiError(401, "unauthorized", "an API key is required: send 'Authorization: Bearer <key>'",
                       {"WWW-Authenticate": "Bearer"})
    key = find_key(deps().keys, given)
    if key is None:
        raise ApiError(401, "unauthorized", "unknown API key", {"WWW-Authenticate": "Bearer"})
    if not key.scopes & set(scopes):
        raise ApiError(403, "forbidden", f"key {key.name!r} has scope(s) {sorted(key.scopes)}; this needs "
                       f"{' or '.join(repr(s) for s in scopes)}")
    wait = deps().limiter.wait_time(key.name)
    if wait > 0:
        raise ApiError(429, "rate_limited", f"rate limit of {current_app.config['RATE_LIMIT_PER_SECOND']} "
                       f"requests/s for key {key.name!r} exceeded; retry in {wait:.2f} s",
                       {"Retry-After": str(max(1, round(wait)))})
    return key

