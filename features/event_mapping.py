"""A store's own log (any columns) -> tailorcard events, by a column mapping.

A mapping names the log's columns for the user, the product, the time and optionally the
session (an order or invoice), the value (columns multiplied, e.g. quantity x unit price) and
the product title, plus the rules that turn a line into a return and the codes that are not
products (postage, fees, discounts). It is a small JSON object, or the name of a preset:

    {"user": "CustomerID", "item": "StockCode", "time": "InvoiceDate", "session": "InvoiceNo",
     "value": ["Quantity", "UnitPrice"], "type": "purchase", "title": "Description",
     "return_if_negative": "Quantity", "return_if_session_starts_with": "C",
     "non_product_pattern": "^[^0-9]*$", "non_product_items": ["C2"], "whole_number_users": true}

`type` is a constant event type, or {"column": NAME, "values": {log value: event type}}.
Lines without a user and lines of non-products are kept aside with the reason (rejects), never
silently dropped; the rest go through features.events.validate_events. Every event id comes
from the line itself (session, product, and the how-many-th such line it is; or user, product,
time), so importing the same log again gives the same ids and adds nothing. All of it is
vectorised: no Python loop per line.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from features.events import EVENT_TYPES, EventError, EventLog, read_event_table, text_column, validate_events
from features.ids import product_keys, valid_ids

ONLINE_RETAIL_ATTRIBUTION = "Online Retail, UCI Machine Learning Repository, https://doi.org/10.24432/C5BW33"
TITLE_NEEDS = r"[A-Za-z]"  # a description without a letter ("?", "") is a note, not a product name


@dataclass
class EventMapping:
    """Which log column is which event field, and the rules for returns and non-products."""

    user: str
    item: str
    time: str
    session: str | None = None
    value: list[str] = field(default_factory=list)  # multiplied together; empty = no value
    type: str | dict = "purchase"  # constant event type, or {"column": ..., "values": {...}}
    title: str | None = None  # product name column (for a product table derived from the log)
    return_if_negative: str | None = None  # a line whose value in this column is < 0 is a return
    return_if_session_starts_with: str | None = None  # e.g. "C": a cancelled invoice
    non_product_pattern: str | None = None  # regex: item codes that are not products
    non_product_items: list[str] = field(default_factory=list)  # and these codes as well
    whole_number_users: bool = False  # "17850.0" -> "17850": ids a spreadsheet wrote as floats
    time_format: str | None = None  # strptime format; None = ISO 8601 or epoch seconds
    attribution: str | None = None  # how results on this data must credit it (a licence's attribution)

    @classmethod
    def from_dict(cls, spec: dict) -> "EventMapping":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise EventError(f"mapping has unknown key(s) {unknown}; expected among {sorted(known)}")
        missing = [k for k in ("user", "item", "time") if k not in spec]
        if missing:
            raise EventError(f"mapping lacks {missing}: the user, item and time columns are required")
        mapping = cls(**spec)
        mapping.value = [mapping.value] if isinstance(mapping.value, str) else mapping.value
        mapping.check_inputs()
        return mapping

    def check_inputs(self) -> None:
        texts = {"user": self.user, "item": self.item, "time": self.time, "session": self.session, "title": self.title,
                 "return_if_negative": self.return_if_negative, "time_format": self.time_format,
                 "return_if_session_starts_with": self.return_if_session_starts_with}
        for key, given in texts.items():
            optional = key not in ("user", "item", "time")
            if not ((isinstance(given, str) and given) or (given is None and optional)):
                what = "a column name" if key not in ("time_format", "return_if_session_starts_with") else "text"
                raise EventError(f"mapping {key} is {given!r}; expected {what}" + (" or null" if optional else ""))
        for key, listed in (("value", self.value), ("non_product_items", self.non_product_items)):
            if not (isinstance(listed, list) and all(isinstance(name, str) for name in listed)):
                raise EventError(f"mapping {key} is {listed!r}; expected a list of texts (value: column names, "
                                 "multiplied together)")
        self._check_pattern()
        constant = isinstance(self.type, str)
        if constant and self.type not in EVENT_TYPES:
            raise EventError(f"mapping type {self.type!r} is not an event type; expected one of {list(EVENT_TYPES)} "
                             "or {\"column\": NAME, \"values\": {...}}")
        if not constant and not (isinstance(self.type, dict) and "column" in self.type
                                 and set(self.type.get("values", {}).values()) <= set(EVENT_TYPES)):
            raise EventError(f"mapping type {self.type!r}: expected {{\"column\": NAME, \"values\": {{log value: "
                             f"event type}}}} with event types among {list(EVENT_TYPES)}")

    def _check_pattern(self) -> None:
        if self.non_product_pattern is None:
            return
        try:
            pd.Series(["x"], dtype="string").str.contains(self.non_product_pattern, regex=True)  # the engine used
        except Exception as exc:  # re.error, or pyarrow's RE2 refusing what Python's re accepts
            raise EventError(f"mapping non_product_pattern {self.non_product_pattern!r} is not a regular expression "
                             f"({exc})") from None

    def columns(self) -> list[str]:
        """Every log column the mapping reads."""
        named = [self.user, self.item, self.time, self.session, self.title, self.return_if_negative,
                 None if isinstance(self.type, str) else self.type["column"], *self.value]
        return list(dict.fromkeys(c for c in named if c))


PRESETS = {
    "online-retail": {  # UCI Online Retail (ONLINE_RETAIL_ATTRIBUTION): one line per invoice line
        "user": "CustomerID", "item": "StockCode", "time": "InvoiceDate", "session": "InvoiceNo",
        "value": ["Quantity", "UnitPrice"], "type": "purchase", "title": "Description",
        "return_if_negative": "Quantity", "return_if_session_starts_with": "C",
        # codes without a digit are postage, fees and adjustments (POST, DOT, M, D, S, BANK CHARGES,
        # AMAZONFEE, CRUK, PADS, B); C2 is carriage and gift_* are vouchers
        "non_product_pattern": r"^[^0-9]*$|^gift_", "non_product_items": ["C2"],
        "whole_number_users": True, "time_format": "%Y-%m-%d %H:%M:%S",
        "attribution": ONLINE_RETAIL_ATTRIBUTION + " (CC BY 4.0)",
    },
}


def load_mapping(name_or_path: str) -> EventMapping:
    """A preset by name, or a JSON mapping file."""
    if name_or_path in PRESETS:
        return EventMapping.from_dict(PRESETS[name_or_path])
    path = Path(name_or_path)
    if not path.is_file():
        raise EventError(f"mapping {name_or_path!r} is neither a preset ({sorted(PRESETS)}) nor a JSON file")
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise EventError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(spec, dict):
        raise EventError(f"{path}: expected a JSON object mapping event fields to columns")
    return EventMapping.from_dict(spec)


@dataclass
class MappedLog:
    """The log as validated events, the lines kept aside (with reasons), and its products."""

    log: EventLog
    products: pd.DataFrame  # by int64 product key (features.ids): product_id (the log's code), title

    @property
    def events(self) -> pd.DataFrame:
        return self.log.events

    @property
    def rejects(self) -> pd.DataFrame:
        return self.log.rejects


def map_log_file(path: str | Path, mapping: EventMapping, known_items=None) -> MappedLog:
    """Read a CSV, Parquet or JSON-lines log and map it."""
    return map_log(read_event_table(path), mapping, known_items)


def map_log(raw: pd.DataFrame, mapping: EventMapping, known_items=None) -> MappedLog:
    """Map, then validate; rejects name the log's own row (1 = first data row) and keep its columns. `known_items`
    (product keys): lines naming another product are rejects too (validate_events)."""
    raw, text = _log_text(raw, mapping)
    reason = _mapping_rejects(text, mapping)
    kept = reason == ""
    mapped = _event_table(raw, text, mapping)
    validated = validate_events(mapped[kept.to_numpy()].reset_index(drop=True), known_items)
    rejects = _all_rejects(raw, reason, validated.rejects, np.flatnonzero(kept.to_numpy()))
    events = validated.events.assign(type=validated.events["type"].astype(str))
    return MappedLog(EventLog(events, rejects, validated.duplicates), products_from_log(raw, text, mapping))


def log_products_file(path: str | Path, mapping: EventMapping) -> pd.DataFrame:
    """The products a log names (products_from_log), without mapping and checking its events."""
    return products_from_log(*_log_text(read_event_table(path), mapping), mapping)


def _log_text(raw: pd.DataFrame, mapping: EventMapping) -> tuple[pd.DataFrame, dict]:
    """The log (positional index) and the columns the mapping reads, as text; a missing column is refused."""
    missing = [c for c in mapping.columns() if c not in raw.columns]
    if missing:
        raise EventError(f"log lacks column(s) {missing} named by the mapping; found {list(raw.columns)}")
    raw = raw.reset_index(drop=True)
    return raw, {c: text_column(raw[c]) for c in mapping.columns()}


def _mapping_rejects(text: dict, mapping: EventMapping) -> pd.Series:
    """Per line, why the mapping keeps it out ("" = kept): no user, or not a product."""
    reason = pd.Series("", index=text[mapping.item].index, dtype=object)
    not_product = _non_products(text[mapping.item], mapping)
    reason[not_product] = "item: not a product (" + text[mapping.item][not_product] + ")"
    no_user = text[mapping.user] == ""
    reason[no_user] = f"user_id: no user ({mapping.user} is empty)"
    return reason


def _non_products(codes: pd.Series, mapping: EventMapping) -> pd.Series:
    listed = codes.isin(mapping.non_product_items)
    if mapping.non_product_pattern:
        listed |= codes.str.contains(mapping.non_product_pattern, regex=True)
    return listed.astype(bool)


def _event_table(raw: pd.DataFrame, text: dict, mapping: EventMapping) -> pd.DataFrame:
    """The events schema's columns (as text / numbers) for every line of the log."""
    user = text[mapping.user]
    if mapping.whole_number_users:
        user = user.str.replace(r"^(\d+)\.0*$", r"\1", regex=True)
    session = text[mapping.session] if mapping.session else pd.Series("", index=raw.index, dtype="string")
    table = pd.DataFrame({
        "event_id": _event_ids(user, text[mapping.item], text[mapping.time], session),
        "user_id": user, "item_id": text[mapping.item], "type": _types(raw, text, mapping),
        "timestamp": _timestamps(text[mapping.time], mapping.time_format), "session_id": session,
        "value": _values(raw, mapping),
    })
    return table.astype({c: str for c in table.columns if c != "value"})  # plain text, as a CSV reads


def _event_ids(user: pd.Series, item: pd.Series, time: pd.Series, session: pd.Series) -> pd.Series:
    """session:item:n (or user:item:time:n without sessions), n counting earlier lines with the same key;
    a key that breaks the id rule (a space, too long) becomes a fixed hash of itself."""
    base = (session + ":" + item).where(session != "", user + ":" + item + ":" + time)
    key = base + ":" + base.groupby(base).cumcount().astype(str)
    bad = ~valid_ids(key)
    hashed = pd.util.hash_pandas_object(key[bad], index=False).to_numpy()  # deterministic: a fixed hash key
    return key.mask(bad, pd.Series([f"h{h:016x}" for h in hashed], index=key.index[bad], dtype="string"))


def _types(raw: pd.DataFrame, text: dict, mapping: EventMapping) -> pd.Series:
    if isinstance(mapping.type, str):
        kind = pd.Series(mapping.type, index=raw.index, dtype=object)
    else:
        column = text[mapping.type["column"]]
        kind = column.map(mapping.type.get("values", {})).fillna(column).astype(object)
    returned = pd.Series(False, index=raw.index)
    if mapping.return_if_negative:
        returned |= pd.to_numeric(raw[mapping.return_if_negative], errors="coerce").lt(0).to_numpy()
    if mapping.return_if_session_starts_with and mapping.session:
        returned |= text[mapping.session].str.startswith(mapping.return_if_session_starts_with).fillna(False)
    return kind.mask(returned, "return")


def _timestamps(column: pd.Series, time_format: str | None) -> pd.Series:
    """Epoch seconds as text when a format is given (validate_events parses ISO and epochs itself);
    a time without a zone is read as UTC."""
    if not time_format:
        return column
    moments = pd.to_datetime(column, format=time_format, errors="coerce")
    seconds = (moments - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    return seconds.astype("string").fillna(column)  # unparseable: the original text, so the reject quotes it


def _values(raw: pd.DataFrame, mapping: EventMapping) -> pd.Series:
    if not mapping.value:
        return pd.Series(np.nan, index=raw.index)
    value = pd.Series(1.0, index=raw.index)
    for column in mapping.value:
        value = value * pd.to_numeric(raw[column], errors="coerce")
    return value


def _all_rejects(raw: pd.DataFrame, reason: pd.Series, validation: pd.DataFrame, kept_rows: np.ndarray) -> pd.DataFrame:
    """The mapping's rejects and validation's, each line once, as features.events lays rejects out."""
    mine = raw[reason != ""].assign(problems=reason[reason != ""])
    theirs = raw.iloc[kept_rows[validation["row"].to_numpy(dtype=int) - 1]].assign(
        problems=validation["problems"].to_numpy()) if len(validation) else raw.iloc[:0].assign(problems="")
    rejects = pd.concat([mine, theirs]).sort_index()
    rejects.insert(0, "row", rejects.index + 1)
    problems = rejects.pop("problems")
    rejects.insert(1, "problems", problems)
    return rejects.reset_index(drop=True)


def products_from_log(raw: pd.DataFrame, text: dict, mapping: EventMapping) -> pd.DataFrame:
    """Text-only product table, laid out as a features.catalogue products frame: each product code once,
    titled by its most frequent description with a letter in it (the code itself when it has none).
    Non-products are left out."""
    codes = text[mapping.item]
    keep = (codes != "") & ~_non_products(codes, mapping) & valid_ids(codes)
    if mapping.title:
        titles = text[mapping.title].where(text[mapping.title].str.contains(TITLE_NEEDS, regex=True).fillna(False), "")
    else:
        titles = pd.Series("", index=raw.index, dtype="string")
    lines = pd.DataFrame({"sku": codes[keep], "title": titles[keep]})
    named = lines[lines["title"] != ""].groupby(["sku", "title"]).size().rename("lines").reset_index()
    best = named.sort_values(["sku", "lines", "title"], ascending=[True, False, True]).drop_duplicates("sku")
    table = pd.DataFrame({"sku": lines["sku"].unique()}).merge(best[["sku", "title"]], on="sku", how="left")
    table["title"] = table["title"].fillna(table["sku"]).astype(str)
    table = table.rename(columns={"sku": "product_id"}).astype({"product_id": str}).sort_values("product_id")
    return table.set_index(pd.Index(product_keys(table["product_id"]), dtype=np.int64, name="product_key"))
