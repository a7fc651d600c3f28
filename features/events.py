"""Shopper behaviour events: load, validate, de-duplicate.

Schema: `event_id` (idempotency key), `user_id`, `item_id`, `type`, `timestamp` (ISO 8601 or
epoch seconds), optional `session_id`, `query` (search text; then `item_id` may be empty) and
`value`. A row without `user_id` but with `session_id` belongs to the anonymous user
`session:<session_id>`. Bad rows are kept aside with the reason, never silently dropped.

Bounds (the same for the API and every importer, so whatever is stored can be served): ids follow
features.ids (`item_id` is a product id: text, or a whole number, which is read as its digits);
timestamps lie in [EARLIEST, LATEST) (1970 up to 2100); `value` is finite with |value| <= MAX_VALUE;
`query` has at most MAX_QUERY_LENGTH characters.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import TailorcardError
from features.ids import (ID_RULE, MAX_SESSION_ID_LENGTH, SESSION_ID_RULE, SESSION_USER_PREFIX, echo, product_keys,
                          valid_ids)

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase", "like", "dislike", "return")
REQUIRED_COLUMNS = ("event_id", "user_id", "item_id", "type", "timestamp")
OPTIONAL_COLUMNS = ("session_id", "query", "value")
NO_ITEM = -1  # item_id of a search-only event
EARLIEST, LATEST = 0.0, 4_102_444_800.0  # epoch seconds: 1970-01-01 up to 2100-01-01 (UTC)
MAX_VALUE = 1e9
MAX_QUERY_LENGTH = 1000
NOT_AN_ID = "\x00"  # stands in for an id of the wrong type (true, 1.5): it fails the id rule


class EventError(TailorcardError):
    """An events file cannot be read at all (as opposed to single bad rows, which become rejects)."""


@dataclass
class EventLog:
    """Valid events (one per event_id, sorted by time) and the rows kept aside with their reasons."""

    events: pd.DataFrame
    rejects: pd.DataFrame
    duplicates: int = 0

    def write_rejects(self, path: str | Path) -> None:
        self.rejects.to_csv(path, index=False)


def load_events(path: str | Path, known_items=None, rejects_path: str | Path | None = None) -> EventLog:
    """Read CSV, Parquet or JSON lines; validate; optionally write the rejects next to it."""
    log = validate_events(read_event_table(path), known_items)
    if rejects_path is not None:
        log.write_rejects(rejects_path)
    return log


def read_event_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise EventError(f"{path}: events file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson", ".json"):
            return pd.read_json(path, lines=True, dtype=False)
    except Exception as exc:
        raise EventError(f"{path}: cannot parse events ({type(exc).__name__}: {exc})") from None
    raise EventError(f"{path}: unsupported events type {suffix!r}; expected .csv, .parquet or .jsonl")


def validate_events(frame: pd.DataFrame, known_items=None) -> EventLog:
    """Check every row; return clean typed events plus a rejects table (row, field, problem)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise EventError(f"events are missing column(s) {missing}; found {list(frame.columns)}, "
                         f"expected {list(REQUIRED_COLUMNS)} and optionally {list(OPTIONAL_COLUMNS)}")
    raw = frame.reset_index(drop=True)
    clean = _typed_columns(raw)
    problems = _row_problems(raw, clean, known_items)
    bad = problems.groupby("position").first() if len(problems) else problems.set_index("position")
    good = clean.drop(index=bad.index).astype({"item_id": "int64"})
    deduplicated = good.drop_duplicates("event_id", keep="first")
    events = deduplicated.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return EventLog(events, _rejects_table(raw, problems), duplicates=len(good) - len(deduplicated))


def text_column(column: pd.Series) -> pd.Series:
    """Cells as stripped text, "" where missing (a file's free-text column)."""
    return column.astype("string").fillna("").str.strip()


def _typed_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """Parse every column leniently; unparseable values become NaN and are reported by _row_problems."""
    optional = {"session_id": id_column(raw["session_id"]) if "session_id" in raw else _blank(raw),
                "query": text_column(raw["query"]) if "query" in raw else _blank(raw)}
    user = id_column(raw["user_id"])
    user = user.where(user != "", SESSION_USER_PREFIX + optional["session_id"])
    value = pd.to_numeric(raw["value"], errors="coerce") if "value" in raw else np.nan
    item = id_column(raw["item_id"]).mask(_names_no_item(raw["item_id"]), "")
    return pd.DataFrame({
        "event_id": id_column(raw["event_id"]).astype(str),
        "user_id": user.astype(str),
        "item_id": item_keys(item).where(item != "", NO_ITEM),
        "type": text_column(raw["type"]).str.lower().astype(str),
        "timestamp": parse_timestamps(raw["timestamp"]),
        "session_id": optional["session_id"].astype(str),
        "query": optional["query"].astype(str),
        "value": value,
    })


def item_keys(item_ids: pd.Series) -> pd.Series:
    """Each product id's int64 key (features.ids.product_key); <NA> where it is not a product id."""
    item = id_column(item_ids)
    keys = pd.Series(pd.NA, index=item.index, dtype="Int64")  # exact int64, never through float
    named = valid_ids(item)
    keys[named] = product_keys(item[named])
    return keys


def _names_no_item(column: pd.Series) -> pd.Series:
    """The number NO_ITEM, as typed logs (the simulator's, the database's) write a search: no product. It
    is never an id (an id starts with a letter or digit), so reading it as "none" is unambiguous."""
    return pd.to_numeric(column, errors="coerce").eq(NO_ITEM).fillna(False).astype(bool)  # <NA> ("85123A"): an id


def _typed_as(column: pd.Series, allowed: tuple, refused: tuple = ()) -> pd.Series:
    """Where a given value's type is wrong (JSON sent a list, an object or true where text or a number goes)."""
    if column.dtype.kind == "b":
        return column.notna()
    if column.dtype != object or (str in allowed and pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty")):
        return pd.Series(False, index=column.index)  # typed columns and plain text (any file's) are fast
    kinds = column.map(lambda v: v is not None and not (isinstance(v, float) and np.isnan(v))
                       and (isinstance(v, refused) or not isinstance(v, allowed)))
    return kinds.astype(bool)


def _blank(raw: pd.DataFrame) -> pd.Series:
    return pd.Series("", index=raw.index, dtype="string")


def id_column(column: pd.Series) -> pd.Series:
    """id_text with NOT_AN_ID where the type is wrong, so the id rule's check reports it."""
    return id_text(column).fillna(NOT_AN_ID)


def id_text(column: pd.Series) -> pd.Series:
    """Ids as text: strings as they are (" u1" is not an id: it could not be asked for again), whole numbers as
    their digits ("" for missing); <NA> for any other type (a boolean, a fraction), which _row_problems reports.
    Vectorised unless the types are mixed."""
    if column.dtype.kind in "iu":
        return column.astype(str).astype("string")
    if column.dtype.kind == "f":
        whole = column.notna() & np.isfinite(column) & (column % 1 == 0) & (column.abs() < 2**63)
        text = pd.Series(pd.NA, index=column.index, dtype="string")
        text[whole] = column[whole].astype(np.int64).astype(str)
        return text.where(column.notna(), "")
    if column.dtype.kind == "b":
        return pd.Series(pd.NA, index=column.index, dtype="string")
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        return column.astype("string").fillna("")
    return column.map(_one_id_text).astype("string")


def _one_id_text(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return pd.NA
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return pd.NA


def parse_timestamps(column: pd.Series) -> pd.Series:
    """Epoch seconds (float) from epoch numbers or ISO 8601 strings; NaN where neither. Any year parses
    (microsecond units, so 9999 does not overflow); _row_problems checks the range."""
    text = text_column(column)
    epoch = pd.to_numeric(text, errors="coerce")
    iso = pd.to_datetime(text.where(epoch.isna()), utc=True, errors="coerce", format="ISO8601")
    moments = iso.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    iso_seconds = np.where(np.isnat(moments), np.nan, moments.astype(np.int64) / 1e6)
    return epoch.fillna(pd.Series(iso_seconds, index=column.index)).astype(float)


def _row_problems(raw: pd.DataFrame, clean: pd.DataFrame, known_items) -> pd.DataFrame:
    """One row per (position, field, problem); vectorised checks, messages built only for bad rows."""
    searched, session = clean["query"] != "", clean["session_id"]
    time = clean["timestamp"]
    checks = [
        ("event_id", clean["event_id"] == "", "missing event_id"),
        ("event_id", (clean["event_id"] != "") & ~valid_ids(clean["event_id"]), f"not an id; expected {ID_RULE}"),
        ("user_id", clean["user_id"] == SESSION_USER_PREFIX, "missing user_id (and no session_id)"),
        ("user_id", (clean["user_id"] != SESSION_USER_PREFIX) & ~valid_ids(clean["user_id"]),
         f"not an id; expected {ID_RULE}"),
        ("session_id", (session != "") & ~valid_ids(session, MAX_SESSION_ID_LENGTH), f"expected {SESSION_ID_RULE}"),
        ("type", ~clean["type"].isin(EVENT_TYPES), f"unknown type; expected one of {list(EVENT_TYPES)}"),
        ("timestamp", time.isna(), "unparseable timestamp; expected ISO 8601 or epoch seconds"),
        ("timestamp", time.notna() & ~time.between(EARLIEST, LATEST, inclusive="left"),
         "timestamp out of range; expected 1970-01-01 up to 2100-01-01 (epoch seconds 0 to 4102444800)"),
        ("item_id", clean["item_id"].isna(), f"item_id is not a product id; expected {ID_RULE}"),
        ("item_id", clean["item_id"].eq(NO_ITEM) & ~searched, "missing item_id (and no query)"),
        ("query", clean["query"].str.len() > MAX_QUERY_LENGTH, f"query longer than {MAX_QUERY_LENGTH} characters"),
    ]
    if "query" in raw:
        checks.append(("query", _typed_as(raw["query"], (str,)), "query is not text"))
    if "value" in raw:
        given = text_column(raw["value"]) != ""
        checks.append(("value", (given & clean["value"].isna()) | _typed_as(raw["value"], (str, int, float, np.number),
                                                                              refused=(bool, np.bool_)),
                       "value is not a number"))
        checks.append(("value", clean["value"].notna() & ~clean["value"].abs().le(MAX_VALUE),
                       f"value out of range; expected a finite number with |value| <= {MAX_VALUE:g}"))
    if known_items is not None:
        listed = clean["item_id"].isin(np.asarray(known_items, dtype=np.int64)) | (clean["item_id"] == NO_ITEM)
        checks.append(("item_id", clean["item_id"].notna() & ~listed, "unknown item (not in the catalogue)"))
    masks = [(field, pd.Series(mask, index=clean.index).fillna(False).astype(bool), problem)
             for field, mask, problem in checks]  # <NA> (an unreadable key) never passes a check
    parts = [pd.DataFrame({"position": clean.index[mask], "field": field, "problem": problem})
             for field, mask, problem in masks if mask.any()]
    if not parts:
        return pd.DataFrame({"position": pd.Series(dtype=int), "field": pd.Series(dtype=str),
                             "problem": pd.Series(dtype=str)})
    problems = pd.concat(parts, ignore_index=True).sort_values("position", kind="stable")
    given = [raw.at[p, f] for p, f in zip(problems["position"], problems["field"])]
    problems["problem"] = [f"{text} (got {echo(value)})" for text, value in zip(problems["problem"], given)]
    return problems.reset_index(drop=True)


def _rejects_table(raw: pd.DataFrame, problems: pd.DataFrame) -> pd.DataFrame:
    """Each rejected row once: `row` (1 = first data row), every field's problem, then the original columns."""
    if not len(problems):
        return pd.DataFrame(columns=["row", "problems", *raw.columns])
    joined = problems.groupby("position").apply(
        lambda g: "; ".join(f"{f}: {p}" for f, p in zip(g["field"], g["problem"])), include_groups=False)
    rejects = raw.loc[joined.index].copy()
    rejects.insert(0, "problems", joined.values)
    rejects.insert(0, "row", joined.index + 1)
    return rejects.reset_index(drop=True)


def split_usable(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed events already stored (by an older version, or by hand) split into those the models can use
    and those they cannot, each with its reason: a row with an infinite timestamp or an unknown type would
    otherwise break its shopper's vector on every rebuild. Only what can break the arithmetic is checked,
    vectorised, so a large log loads fast."""
    time, value = events["timestamp"], events["value"]
    checks = [
        (~time.between(EARLIEST, LATEST, inclusive="left"), "timestamp out of range or not a number"),
        (value.notna() & ~value.abs().le(MAX_VALUE), "value not finite or out of range"),
        (~events["type"].isin(EVENT_TYPES), "unknown type"),
    ]
    reason = pd.Series("", index=events.index)
    for mask, problem in reversed(checks):  # the first failing check names the row
        reason = reason.mask(mask, problem)
    bad = reason != ""
    return events[~bad], events[bad].assign(problem=reason[bad])


def rejects_summary(rejects: pd.DataFrame, limit: int = 20) -> list[str]:
    """Human lines 'row N: field: problem' for messages and CLI output."""
    return [f"row {r}: {p}" for r, p in zip(rejects["row"].head(limit), rejects["problems"].head(limit))]
