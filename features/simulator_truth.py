"""The simulator's own answer to "what will this user buy?": for each product, the probability that
a purchase of the user in a time window is that product. Ground truth of SIMULATED behaviour.

It mirrors features.simulator (and shares its internals on purpose: it is the simulator's knowledge).
Only on-taste views can be bought, and neither being on-taste nor going down the funnel depends on
which mission, colour or usage the view picked, so a purchase is distributed like an on-taste view:
  mission  one of the user's article-type slots, uniformly; a drifted slot has its later type for the
           share of the window after drift_at (sessions start uniformly in time)
  colour   each of the user's colours w.p. colour_affinity / colours_per_user, else any colour
  usage    the user's usage w.p. usage_affinity, else any usage
  cell     the first that exists of (colour, usage), (colour, any), (any, usage), (any, any)
  product  in proportion to its popularity within the cell
Recommenders never read this; lab.oracle uses it as a ceiling to compare them with, and
features.simulator_posterior averages the same mixture over the taste prior given a user's events.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.errors import TailorcardError
from features.simulator import DAY, Simulation, SimulatorConfig, _AttributeSpace, _ItemCells, _taste_cell


class TruthError(TailorcardError):
    """The ground truth cannot answer: unknown users, a bad window, or tastes from another catalogue."""


class PurchaseTruth:
    """Per-user purchase probabilities over a catalogue's products, from a simulation's hidden state."""

    def __init__(self, products: pd.DataFrame, tastes: pd.DataFrame, popularity: pd.Series, config: SimulatorConfig):
        self.space = _AttributeSpace(products)
        weights = popularity.reindex(self.space.item_ids).to_numpy(dtype=float)
        if np.isnan(weights).any():
            missing = self.space.item_ids[np.isnan(weights)]
            raise TruthError(f"popularity has no weight for {len(missing)} catalogue product(s), e.g. "
                             f"{missing[:5].tolist()}; expected the catalogue the simulation ran over")
        self.popularity = weights
        self.cells = _ItemCells(self.space, weights)
        self.in_cell = _cell_shares(self.cells, weights, len(weights))
        self.config = config
        origin = pd.Timestamp(config.start).timestamp()
        self.period = (origin, origin + config.days * DAY)  # epoch seconds the simulated sessions start in
        self.users = pd.Index(tastes["user_id"].astype(str))
        self.tastes = _taste_codes(self.space, tastes)

    @classmethod
    def from_simulation(cls, simulation: Simulation, products: pd.DataFrame) -> "PurchaseTruth":
        return cls(products, simulation.tastes, simulation.popularity, simulation.config)

    @property
    def item_ids(self) -> np.ndarray:
        return self.space.item_ids

    def knows(self, user_ids) -> np.ndarray:
        """True for each user the simulation drew."""
        return self.users.get_indexer([str(u) for u in user_ids]) >= 0

    def batches(self, user_ids, start: float, end: float, batch_size: int = 256):
        """Yield (positions in user_ids, probabilities (len, n_products)) for users buying in [start, end]
        (epoch seconds); batched so 40k products stay within memory."""
        rows = self.users.get_indexer([str(u) for u in user_ids])
        if (rows < 0).any():
            unknown = [str(u) for u, r in zip(user_ids, rows) if r < 0]
            raise TruthError(f"{len(unknown)} user(s) the simulation never drew, e.g. {unknown[:5]}; "
                             f"expected ids from its tastes table")
        if not end >= start:
            raise TruthError(f"time window ends ({end}) before it starts ({start}); expected start <= end")
        for first in range(0, len(rows), batch_size):
            at = np.arange(first, min(first + batch_size, len(rows)))
            yield at, self._probabilities(rows[at], start, end)

    def _probabilities(self, rows: np.ndarray, start: float, end: float) -> np.ndarray:
        tastes = select_tastes(self.tastes, rows)
        return (self.mixture(tastes, window_missions(tastes, start, end)) @ self.in_cell).toarray()

    def mixture(self, tastes: dict, missions: list[tuple]) -> sp.csr_matrix:
        """(tastes x cells): the chance that an on-taste view of each taste draws from each cell, its
        mission being missions[j][0] (codes per taste) with weight missions[j][1], its colour and usage
        picked as the simulator picks them. Times in_cell, the chance of each product."""
        n = len(tastes["gender"])
        weights, cells = [], []
        for (mission, w_m), (colour, w_c), (usage, w_u) in itertools.product(
                missions, self._colours(tastes), self._usages(tastes)):
            cells.append(_taste_cell(self.space, self.cells, tastes["gender"], mission, colour, usage))
            weights.append(np.broadcast_to(w_m * w_c * w_u, n))
        cells, weights = np.concatenate(cells), np.concatenate(weights)
        if (cells < 0).any():
            raise TruthError("a user's taste has no products of its gender and article type; "
                             "expected tastes drawn over this catalogue")
        return sp.csr_matrix((weights, (np.tile(np.arange(n), len(weights) // max(n, 1)), cells)),
                             shape=(n, len(self.cells.keys)))

    def _colours(self, tastes: dict) -> list[tuple]:
        liked = tastes["colours"]
        each = self.config.colour_affinity / liked.shape[1]
        return [(liked[:, j], each) for j in range(liked.shape[1])] + \
            [(self.space.wildcard("baseColour"), 1.0 - self.config.colour_affinity)]

    def _usages(self, tastes: dict) -> list[tuple]:
        return [(tastes["usage"], self.config.usage_affinity),
                (self.space.wildcard("usage"), 1.0 - self.config.usage_affinity)]


def select_tastes(tastes: dict, rows: np.ndarray) -> dict:
    """The taste codes of some rows (tastes as _taste_codes or the simulator's _draw_tastes give them)."""
    return {name: values[rows] for name, values in tastes.items()}


def window_missions(tastes: dict, start: float, end: float) -> list[tuple]:
    """Missions of sessions starting in [start, end]: each slot uniformly; a drifted slot has its later
    type for the share of the window after drift_at."""
    slots = tastes["types"].shape[1]
    after = _share_after(tastes["drift_at"], start, end)
    return [option for s in range(slots) for option in (
        (tastes["types"][:, s], (1.0 - after) / slots), (tastes["later_types"][:, s], after / slots))]


def _share_after(drift_at: np.ndarray, start: float, end: float) -> np.ndarray:
    """Share of the window [start, end] at or after each drift time (a point window: 0 or 1)."""
    if end == start:
        return (start >= drift_at).astype(float)
    return np.clip((end - drift_at) / (end - start), 0.0, 1.0)


def _cell_shares(cells: _ItemCells, popularity: np.ndarray, n_items: int) -> sp.csr_matrix:
    """(cells x products): a product's share of its cell's popularity, as the simulator samples it."""
    cell = np.repeat(np.arange(len(cells.keys)), cells.ends - cells.starts)
    weight = popularity[cells.rows]
    total = np.bincount(cell, weights=weight)
    return sp.csr_matrix((weight / total[cell], (cell, cells.rows)), shape=(len(cells.keys), n_items))


def _taste_codes(space: _AttributeSpace, tastes: pd.DataFrame) -> dict:
    """The tastes table (value names, '|'-joined lists) back to the simulator's integer codes."""
    def codes(attribute: str, column: str) -> np.ndarray:
        table = np.array(tastes[column].astype(str).str.split("|", regex=False).tolist(), dtype=object)
        found = pd.Index(space.values[attribute]).get_indexer(table.ravel()).reshape(table.shape)
        if (found < 0).any():
            raise TruthError(f"tastes column {column!r} names {sorted(set(table[found < 0]))[:5]}, "
                             f"which the catalogue's {attribute} lacks; expected the simulated catalogue")
        return found

    return {"gender": codes("gender", "gender")[:, 0], "types": codes("articleType", "article_types"),
            "later_types": codes("articleType", "article_types_after_drift"),
            "colours": codes("baseColour", "colours"), "usage": codes("usage", "usage")[:, 0],
            "drift_at": tastes["drift_at"].to_numpy(dtype=float)}  # epoch seconds, inf: never drifts
