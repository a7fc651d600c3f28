"""Simulated shoppers over a real catalogue: latent tastes, sessions, a purchase funnel.

Everything this module writes is *simulated* and says so (`simulated` column / field).
A user's taste is defined on catalogue attributes only (gender, article types, colours,
usage), never on embedding vectors, so no recommender is favoured by construction.

Each session has one mission (an article type from the user's taste). Each view in it is
on-taste with probability `taste_strength` (an item of the mission type, in a liked colour
and usage when `colour_affinity` / `usage_affinity` say so) and otherwise any item; items
are drawn in proportion to a Zipf popularity. Views go down the funnel view -> click ->
add_to_cart -> purchase; off-taste views may be disliked; purchases may be returned.
Some users drift: after a time, one of their article types is replaced by another.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.catalogue import Catalogue
from features.checks import check_fields, number, whole
from features.errors import TailorcardError

ATTRIBUTES = ("gender", "articleType", "baseColour", "usage")
DAY = 86_400.0
VIEW_GAP_SECONDS = 60.0  # time between two views in a session; funnel steps follow within it
SIMULATED_NOTE = "simulated behaviour (not real shoppers)"


class SimulatorError(TailorcardError):
    """The simulator's configuration or catalogue cannot produce behaviour."""


@dataclass
class SimulatorConfig:
    """All knobs of the simulation; saved as JSON next to its output."""

    n_users: int = 1000
    seed: int = 0
    start: str = "2024-01-01T00:00:00Z"
    days: float = 90.0
    sessions_mean: float = 3.0  # geometric, so a long tail of heavy users and many one-session users
    views_mean: float = 4.0
    types_per_user: int = 3
    colours_per_user: int = 2
    taste_strength: float = 0.85
    colour_affinity: float = 0.6
    usage_affinity: float = 0.7
    popularity_skew: float = 0.9  # Zipf exponent of item popularity
    click_rate: float = 0.35
    cart_rate: float = 0.4
    purchase_rate: float = 0.6
    like_rate: float = 0.05
    dislike_rate: float = 0.1  # of off-taste views
    return_rate: float = 0.08
    query_rate: float = 0.2  # sessions that start with a search
    drift_rate: float = 0.2  # users whose taste changes once

    def check_inputs(self) -> None:
        probabilities = ("taste_strength", "colour_affinity", "usage_affinity", "click_rate", "cart_rate",
                         "purchase_rate", "like_rate", "dislike_rate", "return_rate", "query_rate", "drift_rate")
        check_fields(self, SimulatorError, (
            ("n_users", whole(self.n_users, 1) and self.n_users <= 10_000_000, "an integer in 1..10,000,000"),
            ("seed", whole(self.seed, 0), "an integer >= 0"),
            ("start", _is_time(self.start), "an ISO 8601 time"),
            ("days", number(self.days, 0, above=True), "a number > 0"),
            ("sessions_mean", number(self.sessions_mean, 1), "a number >= 1"),
            ("views_mean", number(self.views_mean, 1), "a number >= 1"),
            ("types_per_user", whole(self.types_per_user, 1), "an integer >= 1"),
            ("colours_per_user", whole(self.colours_per_user, 1), "an integer >= 1"),
            ("popularity_skew", number(self.popularity_skew, 0), "a number >= 0"),
            *((name, number(getattr(self, name), 0, 1), "a probability in 0..1") for name in probabilities),
        ))


def _is_time(text) -> bool:
    try:
        return isinstance(text, str) and pd.Timestamp(text) is not pd.NaT
    except ValueError:
        return False


@dataclass
class Simulation:
    """Output of one run: the event log and the ground truth behind it (each user's taste and each
    product's popularity weight, as drawn), all marked simulated."""

    events: pd.DataFrame
    tastes: pd.DataFrame
    config: SimulatorConfig
    popularity: pd.Series  # Zipf weight per product id; items are drawn in proportion to it within a cell

    def save(self, folder: str | Path) -> dict[str, Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"events": folder / "events.parquet", "tastes": folder / "tastes.parquet",
                 "popularity": folder / "popularity.parquet", "config": folder / "simulator_config.json"}
        self.events.to_parquet(paths["events"], index=False)
        self.tastes.to_parquet(paths["tastes"], index=False)
        self.popularity.to_frame().assign(simulated=True).to_parquet(paths["popularity"])
        paths["config"].write_text(json.dumps({"simulated": True, **asdict(self.config)}, indent=2))
        return paths


def simulate(catalogue: Catalogue, config: SimulatorConfig | None = None) -> Simulation:
    """Deterministic by `config.seed`: same catalogue and config give the same events."""
    config = config or SimulatorConfig()
    config.check_inputs()
    rng = np.random.default_rng(config.seed)
    space = _AttributeSpace(catalogue.products)
    popularity = _zipf_popularity(len(space.item_ids), config.popularity_skew, rng)
    cells = _ItemCells(space, popularity)
    tastes = _draw_tastes(space, config, rng)
    sessions = _draw_sessions(tastes, config, rng)
    views = _draw_views(space, cells, tastes, sessions, config, rng)
    events = _funnel_events(views, sessions, space, config, rng)
    popularity = pd.Series(popularity, index=pd.Index(space.item_ids, name="product_id"), name="popularity")
    return Simulation(events, _tastes_table(space, tastes, config), config, popularity)


class _AttributeSpace:
    """Integer codes of the four taste attributes; code `len(values)` is the wildcard."""

    def __init__(self, products: pd.DataFrame):
        if len(products) == 0:
            raise SimulatorError("the catalogue is empty; the simulator needs products")
        missing = [a for a in ATTRIBUTES if a not in products.columns]
        if missing:
            raise SimulatorError(f"catalogue lacks attribute column(s) {missing}; the simulator needs {list(ATTRIBUTES)}")
        self.item_ids = products.index.to_numpy(dtype=np.int64)
        self.values, self.codes = {}, {}
        for name in ATTRIBUTES:
            codes, values = pd.factorize(products[name].astype(str), sort=True)
            self.values[name], self.codes[name] = np.asarray(values, dtype=object), codes
        self.sizes = {name: len(v) for name, v in self.values.items()}

    def wildcard(self, name: str) -> int:
        return self.sizes[name]

    def key(self, gender, article_type, colour, usage) -> np.ndarray:
        """One int64 per combination (wildcards included), for sorted look-ups."""
        key = np.asarray(gender, dtype=np.int64)
        for name, part in (("articleType", article_type), ("baseColour", colour), ("usage", usage)):
            key = key * (self.sizes[name] + 1) + np.asarray(part, dtype=np.int64)
        return key

    def named_counts(self, name: str, among: np.ndarray | None = None) -> np.ndarray:
        """Item counts per value; values that are empty strings never become tastes."""
        codes = self.codes[name] if among is None else self.codes[name][among]
        counts = np.bincount(codes, minlength=self.sizes[name]).astype(float)
        counts[self.values[name] == ""] = 0.0
        return counts


# Patterns of the cells an item belongs to: which attributes are kept (others are wildcards).
_CELL_PATTERNS = ((True, True, True, True), (True, True, True, False), (True, True, False, True),
                  (True, True, False, False), (False, False, False, False))


class _ItemCells:
    """Items grouped by attribute combinations, each group with its popularity CDF."""

    def __init__(self, space: _AttributeSpace, popularity: np.ndarray):
        keys, rows = [], []
        for pattern in _CELL_PATTERNS:
            parts = [space.codes[n] if keep else np.full(len(space.item_ids), space.wildcard(n))
                     for n, keep in zip(ATTRIBUTES, pattern)]
            keys.append(space.key(*parts))
            rows.append(np.arange(len(space.item_ids)))
        keys, rows = np.concatenate(keys), np.concatenate(rows)
        order = np.argsort(keys, kind="stable")
        self.rows, sorted_keys = rows[order], keys[order]
        self.cumulative = np.cumsum(popularity[self.rows])
        self.keys, self.starts = np.unique(sorted_keys, return_index=True)
        self.ends = np.append(self.starts[1:], len(sorted_keys))

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Cell number of each key, -1 where no item has that combination."""
        at = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        return np.where(self.keys[at] == keys, at, -1)

    def sample(self, cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One item row per cell, in proportion to popularity within the cell."""
        start, end = self.starts[cells], self.ends[cells]
        before = np.where(start > 0, self.cumulative[np.maximum(start - 1, 0)], 0.0)
        target = before + rng.random(len(cells)) * (self.cumulative[end - 1] - before)
        at = np.clip(np.searchsorted(self.cumulative, target, side="right"), start, end - 1)
        return self.rows[at]


def _zipf_popularity(n_items: int, skew: float, rng: np.random.Generator) -> np.ndarray:
    ranks = rng.permutation(n_items) + 1
    return ranks.astype(float) ** -skew


def _draw(rng: np.random.Generator, weights: np.ndarray, size) -> np.ndarray:
    if weights.sum() <= 0:
        raise SimulatorError("no catalogue value to draw a taste from (all empty)")
    return rng.choice(len(weights), size=size, p=weights / weights.sum())


def _draw_tastes(space: _AttributeSpace, config: SimulatorConfig, rng: np.random.Generator) -> dict:
    n = config.n_users
    gender = _draw(rng, space.named_counts("gender"), n)
    types = np.zeros((n, config.types_per_user), dtype=np.int64)
    for g in np.unique(gender):  # article types a user likes exist for their gender
        users = np.flatnonzero(gender == g)
        counts = space.named_counts("articleType", among=space.codes["gender"] == g)
        types[users] = _draw(rng, np.sqrt(counts), (len(users), config.types_per_user))
    colours = _draw(rng, np.sqrt(space.named_counts("baseColour")), (n, config.colours_per_user))
    usage = _draw(rng, space.named_counts("usage"), n)
    drifts = rng.random(n) < config.drift_rate
    later_types = types.copy()
    for g in np.unique(gender[drifts]):
        users = np.flatnonzero(drifts & (gender == g))
        counts = space.named_counts("articleType", among=space.codes["gender"] == g)
        later_types[users, 0] = _draw(rng, np.sqrt(counts), len(users))
    drift_at = np.where(drifts, rng.random(n) * config.days * DAY, np.inf)
    return {"gender": gender, "types": types, "later_types": later_types, "colours": colours,
            "usage": usage, "drift_at": drift_at}


def _draw_sessions(tastes: dict, config: SimulatorConfig, rng: np.random.Generator) -> dict:
    counts = rng.geometric(1.0 / config.sessions_mean, config.n_users)
    user = np.repeat(np.arange(config.n_users), counts)
    start = rng.random(len(user)) * config.days * DAY
    slot = rng.integers(0, tastes["types"].shape[1], len(user))
    drifted = start >= tastes["drift_at"][user]
    mission = np.where(drifted, tastes["later_types"][user, slot], tastes["types"][user, slot])
    views = rng.geometric(1.0 / config.views_mean, len(user))
    return {"user": user, "start": start, "mission": mission, "views": views, "gender": tastes["gender"][user],
            "searched": rng.random(len(user)) < config.query_rate}


def _draw_views(space, cells, tastes, sessions, config, rng) -> dict:
    """Every view of every session, vectorised: on-taste from the best matching cell, else anything."""
    session = np.repeat(np.arange(len(sessions["user"])), sessions["views"])
    step = np.arange(len(session)) - np.repeat(np.cumsum(sessions["views"]) - sessions["views"], sessions["views"])
    user = sessions["user"][session]
    n = len(session)
    colour_pick = tastes["colours"][user, rng.integers(0, tastes["colours"].shape[1], n)]
    colour = np.where(rng.random(n) < config.colour_affinity, colour_pick, space.wildcard("baseColour"))
    usage = np.where(rng.random(n) < config.usage_affinity, tastes["usage"][user], space.wildcard("usage"))
    cell = _taste_cell(space, cells, tastes["gender"][user], sessions["mission"][session], colour, usage)
    everything = cells.find(space.key(*(np.array([space.wildcard(a)]) for a in ATTRIBUTES)))[0]
    on_taste = (rng.random(n) < config.taste_strength) & (cell >= 0)
    item_row = cells.sample(np.where(on_taste, cell, everything), rng)
    return {"session": session, "step": step, "user": user, "item_row": item_row, "on_taste": on_taste}


def _taste_cell(space: _AttributeSpace, cells: _ItemCells, gender, mission, colour, usage) -> np.ndarray:
    """The cell an on-taste view draws from: the first that exists of (colour, usage), (colour, any),
    (any, usage), (any, any) for the gender and mission; -1 where none does."""
    any_colour, any_usage = space.wildcard("baseColour"), space.wildcard("usage")
    cell = np.full(np.broadcast(gender, mission, colour, usage).shape, -1)
    for c, u in ((colour, usage), (colour, any_usage), (any_colour, usage), (any_colour, any_usage)):
        cell = np.where(cell >= 0, cell, cells.find(space.key(gender, mission, c, u)))
    return cell


def _funnel_events(views, sessions, space, config, rng) -> pd.DataFrame:
    """Views down the funnel, plus likes, dislikes, returns and search queries, as one table."""
    n = len(views["session"])
    clicked = views["on_taste"] & (rng.random(n) < config.click_rate)
    carted = clicked & (rng.random(n) < config.cart_rate)
    bought = carted & (rng.random(n) < config.purchase_rate)
    liked = clicked & (rng.random(n) < config.like_rate)
    disliked = ~views["on_taste"] & (rng.random(n) < config.dislike_rate)
    returned = bought & (rng.random(n) < config.return_rate)
    view_time = sessions["start"][views["session"]] + views["step"] * VIEW_GAP_SECONDS
    return_delay = (1.0 + rng.random(n) * 4.0) * DAY
    parts = [(np.ones(n, bool), "view", 0.0), (clicked, "click", 10.0), (carted, "add_to_cart", 20.0),
             (bought, "purchase", 30.0), (liked, "like", 15.0), (disliked, "dislike", 5.0),
             (returned, "return", return_delay)]
    frames = [_event_frame(views, view_time, mask, kind, offset, space) for mask, kind, offset in parts]
    frames.append(_query_frame(sessions, space, rng))
    events = pd.concat(frames, ignore_index=True)
    events = events[events["timestamp"] < config.days * DAY]  # returns due after the simulated period have not happened yet
    events = events.sort_values(["timestamp", "user_id"], kind="stable").reset_index(drop=True)
    origin = pd.Timestamp(config.start).timestamp()
    events["timestamp"] = np.round(events["timestamp"] + origin, 3)
    events.insert(0, "event_id", [f"sim-{i}" for i in range(len(events))])
    events["user_id"] = "u" + events["user_id"].astype(str)
    events["session_id"] = "s" + events["session_id"].astype(str)
    events["simulated"] = True
    return events


def _event_frame(views, view_time, mask, kind, offset, space) -> pd.DataFrame:
    offset = offset[mask] if isinstance(offset, np.ndarray) else offset
    return pd.DataFrame({
        "user_id": views["user"][mask], "item_id": space.item_ids[views["item_row"][mask]],
        "type": kind, "timestamp": view_time[mask] + offset, "session_id": views["session"][mask], "query": "",
    })


def _query_frame(sessions, space, rng) -> pd.DataFrame:
    """A search at the start of some sessions: '<gender> <mission article type>', as shoppers type it."""
    searched = np.flatnonzero(sessions["searched"])
    gender = space.values["gender"][sessions["gender"][searched]]
    article_type = space.values["articleType"][sessions["mission"][searched]]
    text = (pd.Series(gender, dtype=str) + " " + pd.Series(article_type, dtype=str)).str.lower()
    return pd.DataFrame({
        "user_id": sessions["user"][searched], "item_id": -1, "type": "view",
        "timestamp": sessions["start"][searched] - 5.0, "session_id": searched, "query": text.to_numpy(),
    })


def _tastes_table(space: _AttributeSpace, tastes: dict, config: SimulatorConfig) -> pd.DataFrame:
    def names(attribute, codes):
        values = space.values[attribute][codes]
        return ["|".join(row) for row in values] if values.ndim == 2 else values

    origin = pd.Timestamp(config.start).timestamp()
    return pd.DataFrame({
        "user_id": [f"u{i}" for i in range(config.n_users)],
        "gender": names("gender", tastes["gender"]),
        "article_types": names("articleType", tastes["types"]),
        "article_types_after_drift": names("articleType", tastes["later_types"]),
        "colours": names("baseColour", tastes["colours"]),
        "usage": names("usage", tastes["usage"]),
        "drift_at": tastes["drift_at"] + origin,
        "simulated": True,
    })
