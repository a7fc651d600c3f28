"""The one rule for every id tailorcard takes: users, products, events, sessions, experiments.

An id is 1 to 128 characters: a letter or digit first, then letters, digits and `_ . : @ -`
(ASCII only). That keeps every id safe in a URL path segment, a log line, a CSV cell and a
database key, and it is checked at the door of every endpoint and every batch importer, so
nothing is stored that could not be asked for again. A session id is at most 120 characters,
so that the anonymous shopper `session:<session id>` is itself a valid id.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd

MAX_ID_LENGTH = 128
SESSION_USER_PREFIX = "session:"
MAX_SESSION_ID_LENGTH = MAX_ID_LENGTH - len(SESSION_USER_PREFIX)
ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.:@-]{{0,{MAX_ID_LENGTH - 1}}}$"
ID_RULE = f"1-{MAX_ID_LENGTH} characters: a letter or digit, then letters, digits and _.:@-"
SESSION_ID_RULE = f"an id (1-{MAX_SESSION_ID_LENGTH} characters: a letter or digit, then letters, digits and _.:@-)"
_ID = re.compile(ID_PATTERN)
ECHO_LIMIT = 80  # characters of a bad value quoted back in a message


def is_id(value, max_length: int = MAX_ID_LENGTH) -> bool:
    return isinstance(value, str) and len(value) <= max_length and _ID.fullmatch(value) is not None  # not "u1\n"


def valid_ids(column: pd.Series, max_length: int = MAX_ID_LENGTH) -> pd.Series:
    """Boolean mask of the values (text) that follow the rule; vectorised for batch importers."""
    text = column.astype("string")
    return (text.str.len() <= max_length).fillna(False) & text.str.fullmatch(_ID.pattern[1:-1]).fillna(False)


def echo(value, limit: int = ECHO_LIMIT) -> str:
    """A value as a message may quote it: its repr, cut to `limit` characters (a 1 MB input is not echoed); the
    length a cut text states is its own, not its repr's with the quotes."""
    text = repr(value)
    size = len(value) if isinstance(value, str) else len(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({size} characters)"


# ---- product keys ---------------------------------------------------------------------------
# Stores name products by SKU ("APL-001", "85123A", "15970"); the numeric core (FAISS, preference
# matrices) wants int64. A product's key is derived from its id alone, so any process maps an id
# the same way without a lookup table: a canonical decimal id below 2**62 is its own key (old
# integer catalogues keep their numbers), any other id hashes into [2**62, 2**63).
HASHED_KEYS = 2**62
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,18})$")


def product_key(product_id: str) -> int:
    if _DECIMAL.match(product_id) and int(product_id) < HASHED_KEYS:
        return int(product_id)
    digest = hashlib.blake2b(product_id.encode(), digest_size=8).digest()
    return HASHED_KEYS | (int.from_bytes(digest, "big") & (HASHED_KEYS - 1))


def product_keys(product_ids) -> np.ndarray:
    """int64 key of each product id (checked ids, as text); each distinct id is hashed once."""
    codes, uniques = pd.factorize(pd.Series(product_ids, dtype=object).astype(str))
    return np.array([product_key(u) for u in uniques], dtype=np.int64)[codes] if len(uniques) else \
        np.zeros(len(codes), dtype=np.int64)
