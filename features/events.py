"""Shopper behaviour events: load, validate, de-duplicate.

Schema: `event_id` (idempotency key), `user_id`, `item_id`, `type`, `timestamp` (ISO 8601 or
epoch seconds), optional `session_id`, `query` (search text; then `item_id` may be empty) and
`value`. A row without `user_id` but with `session_id` belongs to the anonymous user
`session:<session_id>`. Bad rows are kept aside with the reason, never silently dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import TailorcardError

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase", "like", "dislike", "return")
REQUIRED_COLUMNS = ("event_id", "user_id", "item_id", "type", "timestamp")
OPTIONAL_COLUMNS = ("session_id", "query", "value")
NO_ITEM = -1  # item_id of a search-only event
SESSION_USER_PREFIX = "session:"


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


def _text(column: pd.Series) -> pd.Series:
    return column.astype("string").fillna("").str.strip()


def _typed_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """Parse every column leniently; unparseable values become NaN and are reported by _row_problems."""
    optional = {c: _text(raw[c]) if c in raw else pd.Series("", index=raw.index, dtype="string")
                for c in ("session_id", "query")}
    user = _text(raw["user_id"])
    user = user.where(user != "", SESSION_USER_PREFIX + optional["session_id"])
    value = pd.to_numeric(raw["value"], errors="coerce") if "value" in raw else np.nan
    return pd.DataFrame({
        "event_id": _text(raw["event_id"]).astype(str),
        "user_id": user.astype(str),
        "item_id": pd.to_numeric(_text(raw["item_id"]).replace("", str(NO_ITEM)), errors="coerce"),
        "type": _text(raw["type"]).str.lower().astype(str),
        "timestamp": parse_timestamps(raw["timestamp"]),
        "session_id": optional["session_id"].astype(str),
        "query": optional["query"].astype(str),
        "value": value,
    })


def parse_timestamps(column: pd.Series) -> pd.Series:
    """Epoch seconds (float) from epoch numbers or ISO 8601 strings; NaN where neither."""
    text = _text(column)
    epoch = pd.to_numeric(text, errors="coerce")
    iso = pd.to_datetime(text.where(epoch.isna()), utc=True, errors="coerce", format="ISO8601")
    iso_seconds = (iso - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return epoch.fillna(iso_seconds).astype(float)


def _row_problems(raw: pd.DataFrame, clean: pd.DataFrame, known_items) -> pd.DataFrame:
    """One row per (position, field, problem); vectorised checks, messages built only for bad rows."""
    searched = clean["query"] != ""
    checks = [
        ("event_id", clean["event_id"] == "", "missing event_id"),
        ("user_id", clean["user_id"] == SESSION_USER_PREFIX, "missing user_id (and no session_id)"),
        ("type", ~clean["type"].isin(EVENT_TYPES), f"unknown type; expected one of {list(EVENT_TYPES)}"),
        ("timestamp", clean["timestamp"].isna(), "unparseable timestamp; expected ISO 8601 or epoch seconds"),
        ("item_id", clean["item_id"].isna() | (clean["item_id"] % 1 != 0), "item_id is not an integer"),
        ("item_id", (clean["item_id"] == NO_ITEM) & ~searched, "missing item_id (and no query)"),
    ]
    if "value" in raw:
        given = _text(raw["value"]) != ""
        checks.append(("value", given & clean["value"].isna(), "value is not a number"))
    if known_items is not None:
        listed = clean["item_id"].isin(np.asarray(known_items, dtype=np.int64)) | (clean["item_id"] == NO_ITEM)
        checks.append(("item_id", clean["item_id"].notna() & ~listed, "unknown item (not in the catalogue)"))
    parts = [pd.DataFrame({"position": clean.index[mask], "field": field, "problem": problem})
             for field, mask, problem in checks if mask.any()]
    if not parts:
        return pd.DataFrame({"position": pd.Series(dtype=int), "field": pd.Series(dtype=str),
                             "problem": pd.Series(dtype=str)})
    problems = pd.concat(parts, ignore_index=True).sort_values("position", kind="stable")
    given = [raw.at[p, f] for p, f in zip(problems["position"], problems["field"])]
    problems["problem"] = [f"{text} (got {value!r})" for text, value in zip(problems["problem"], given)]
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


def rejects_summary(rejects: pd.DataFrame, limit: int = 20) -> list[str]:
    """Human lines 'row N: field: problem' for messages and CLI output."""
    return [f"row {r}: {p}" for r, p in zip(rejects["row"].head(limit), rejects["problems"].head(limit))]
