"""The best guess of what a user will buy from their events alone, for someone who knows the simulator
exactly: the Bayes posterior over its hidden tastes given the events, and the purchase probabilities
that implies. Ground truth of SIMULATED behaviour; lab.oracle ranks by it as a ceiling.

    P(purchase = i | events) = sum over tastes t of P(t | events) * P(purchase = i | t)

Prior: S tastes drawn by the simulator's own _draw_tastes from an independent generator (Monte Carlo,
self-normalised: w_t is proportional to P(events | t)). P(purchase = i | t) is PurchaseTruth's mixture
for t over the purchase window, drift included.

Likelihood of the events under t, as features.simulator generates them:
- how many sessions, views and searches, and when: the same for every taste, so left out;
- a session has one mission, slot k of the T slots uniformly (its later type if the session starts
  after a drift of that slot), shared by its views and its search: P(session | t) = sum_k P(session | t, k) / T;
- given the mission m the views are independent; each is on-taste w.p. ts = taste_strength, drawn from
  q_tm (colour and usage picked per view, the cascade of cells, popularity within the cell), else
  off-taste from pi = pop / sum(pop). With cr, dr the click and dislike rates, a view of product i is
      plain (nothing followed it):  ts (1 - cr) q_tm(i) + (1 - ts) (1 - dr) pi(i)
      on-taste (a click, add_to_cart, purchase or like followed):  ts q_tm(i) x funnel factors
      disliked:  (1 - ts) pi(i) dr;  a return follows a purchase, with a fixed chance
  and factors equal for every taste are divided out: a plain view counts 1 + r(i) q_tm(i) with
  r(i) = ts (1 - cr) / ((1 - ts) (1 - dr) pi(i)), an on-taste view q_tm(i), a dislike or return 1;
- a search '<gender> <type>' at the session's start counts 1 if t has that gender and m is that type, else 0.
Otherwise exact (checked against a direct evaluation of the model) but for: Monte Carlo over the prior,
fine for short histories (1-2 events: a median of ~200 effective samples per 20,000) but degenerate
for long ones (> 10 events: ~2; a user whose on-taste views no sampled taste can make gets the prior's
answer); a view whose click fell after the split counts as plain; the drift state is
taken at the session's first event (a search comes 5 s before its first view).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.simulator import _draw_tastes
from features.simulator_evidence import Evidence
from features.simulator_truth import PurchaseTruth, TruthError, select_tastes, window_missions

PRIOR_SEED = 20_240_601  # any seed: the prior's draw only has to be independent of the simulation's
BATCH_CELLS = 4_000_000  # users x samples per batch: a few dense (sessions x samples) arrays stay well under 1 GB


@dataclass
class _Slot:
    """One taste slot of every sampled taste: its on-taste mixture over cells before and after a drift."""

    types: np.ndarray
    later_types: np.ndarray
    switch_at: np.ndarray  # epoch seconds the slot takes its later type; inf if it never changes
    before: sp.csr_matrix  # (samples x cells)
    changed: np.ndarray  # the samples whose slot changes, rows of `after`
    after: sp.csr_matrix  # (changed x cells)

    def mission_at(self, time: np.ndarray) -> np.ndarray:
        """(len(time), samples): the slot's article type for a session starting at each time."""
        return np.where(time[:, None] >= self.switch_at[None, :], self.later_types[None, :], self.types[None, :])


class EventsPosterior:
    """Posterior purchase probabilities of users given their events, from `samples` prior tastes."""

    def __init__(self, truth: PurchaseTruth, samples: int = 20_000, seed: int = PRIOR_SEED):
        if samples < 1:
            raise TruthError(f"the posterior needs at least one prior sample; got samples={samples}")
        self.truth = truth
        self.tastes = _draw_tastes(truth.space, dataclasses.replace(truth.config, n_users=samples),
                                   np.random.default_rng(seed))
        self.tastes["drift_at"] = self.tastes["drift_at"] + truth.period[0]  # drawn from the start; events are epoch
        self.slots = [self._slot(k) for k in range(self.tastes["types"].shape[1])]
        self._plain_ratio, self._plain_is_on_taste = _plain_view_ratio(truth)
        self._windows: dict[tuple, sp.csr_matrix] = {}

    @property
    def samples(self) -> int:
        return len(self.tastes["gender"])

    def batches(self, events: pd.DataFrame, user_ids, start: float, end: float, batch_size: int | None = None):
        """Yield (positions in user_ids, probabilities (len, n_products)) of purchases in [start, end]
        given each user's events (those of other users are ignored); batched to bound memory."""
        user_ids = [str(u) for u in user_ids]
        window = self._window(start, end)
        batch_size = batch_size or max(1, BATCH_CELLS // self.samples)
        for first in range(0, len(user_ids), batch_size):
            at = np.arange(first, min(first + batch_size, len(user_ids)))
            distinct, back = np.unique([user_ids[i] for i in at], return_inverse=True)
            weights = self.weights(Evidence.of(events, list(distinct), self.truth.space), len(distinct))
            yield at, (sp.csr_matrix(weights @ window) @ self.truth.in_cell).toarray()[back]

    def weights(self, evidence: Evidence, n_users: int) -> np.ndarray:
        """(n_users, samples) posterior weights, rows summing to 1. A user whose events no sampled taste
        can produce (all likelihoods 0: too few samples for a long, varied history) gets the prior's."""
        log_likelihood = self.log_likelihood(evidence, n_users)
        best = log_likelihood.max(axis=1, keepdims=True)
        log_likelihood[~np.isfinite(best[:, 0])] = 0.0
        weights = np.exp(log_likelihood - np.where(np.isfinite(best), best, 0.0))
        return weights / weights.sum(axis=1, keepdims=True)

    def log_likelihood(self, evidence: Evidence, n_users: int) -> np.ndarray:
        """(n_users, samples) log P(events | taste), up to a constant per user."""
        total = np.zeros((n_users, self.samples))
        if len(evidence.sessions):
            per_slot = [self._session_log_likelihood(slot, evidence) for slot in self.slots]
            sessions = np.logaddexp.reduce(per_slot, axis=0)  # the mission is one slot; 1/T is a constant
            users, first = np.unique(evidence.sessions["user"].to_numpy(), return_index=True)
            total[users] = np.add.reduceat(sessions, first, axis=0)
        return total

    def _session_log_likelihood(self, slot: _Slot, evidence: Evidence) -> np.ndarray:
        """(sessions, samples): log P(session's views and search | taste, mission = this slot)."""
        views, shape = evidence.views, (len(evidence.sessions), self.samples)
        plain, on_taste = self._view_counts(views)
        session = views["session"].to_numpy()
        row, sample, chance = self._on_taste_chances(slot, evidence)
        ratio = self._plain_ratio[views["item"].to_numpy()[row]]
        value = plain[row] * np.log1p(ratio * chance) + on_taste[row] * np.log(chance)
        total = sp.coo_matrix((value, (session[row], sample)), shape=shape).toarray()
        drawable = sp.coo_matrix(((on_taste[row] > 0).astype(float), (session[row], sample)), shape=shape).toarray()
        needed = np.bincount(session[on_taste > 0], minlength=shape[0])
        total[drawable < needed[:, None]] = -np.inf  # an on-taste view of a product the mission cannot draw
        self._require_searched_mission(slot, evidence, total)
        return total

    def _view_counts(self, views: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(plain, on-taste) views per row; a plain view is on-taste when no off-taste view goes unanswered."""
        plain, on_taste = views["plain"].to_numpy(), views["on_taste"].to_numpy()
        return (np.zeros_like(plain), plain + on_taste) if self._plain_is_on_taste else (plain, on_taste)

    def _on_taste_chances(self, slot: _Slot, evidence: Evidence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(view row, sample, q) wherever the slot's on-taste view draws the row's product, q > 0,
        with the mixture before or after the slot's change as the view's session started."""
        views = evidence.views
        items, column = np.unique(views["item"].to_numpy(), return_inverse=True)
        shares = self.truth.in_cell[:, items].tocsc()
        time = evidence.sessions["time"].to_numpy()[views["session"].to_numpy()]
        before = (slot.before @ shares).tocsc()[:, column].tocoo()
        kept = time[before.col] < slot.switch_at[before.row]
        after = (slot.after @ shares).tocsc()[:, column].tocoo()
        changed = slot.changed[after.row]
        later = time[after.col] >= slot.switch_at[changed]
        row = np.concatenate([before.col[kept], after.col[later]])
        sample = np.concatenate([before.row[kept], changed[later]])
        chance = np.concatenate([before.data[kept], after.data[later]])
        return row[chance > 0], sample[chance > 0], chance[chance > 0]

    def _require_searched_mission(self, slot: _Slot, evidence: Evidence, total: np.ndarray) -> None:
        """A search names the session's gender and mission: tastes with another get likelihood 0."""
        queries = evidence.queries
        if not len(queries):
            return
        session = queries["session"].to_numpy()
        mission = slot.mission_at(evidence.sessions["time"].to_numpy()[session])
        matches = (mission == queries["article_type"].to_numpy()[:, None]) & \
            (self.tastes["gender"][None, :] == queries["gender"].to_numpy()[:, None])
        query, sample = np.nonzero(~matches)
        total[session[query], sample] = -np.inf

    def _slot(self, k: int) -> _Slot:
        types, later_types = self.tastes["types"][:, k], self.tastes["later_types"][:, k]
        changed = np.flatnonzero(later_types != types)
        switch_at = np.full(len(types), np.inf)
        switch_at[changed] = self.tastes["drift_at"][changed]
        return _Slot(types, later_types, switch_at, self.truth.mixture(self.tastes, [(types, 1.0)]), changed,
                     self.truth.mixture(select_tastes(self.tastes, changed), [(later_types[changed], 1.0)]))

    def _window(self, start: float, end: float) -> sp.csr_matrix:
        """(samples x cells): each sampled taste's purchase mixture over [start, end]."""
        if (start, end) not in self._windows:
            if not end >= start:
                raise TruthError(f"time window ends ({end}) before it starts ({start}); expected start <= end")
            self._windows[(start, end)] = self.truth.mixture(self.tastes, window_missions(self.tastes, start, end))
        return self._windows[(start, end)]


def _plain_view_ratio(truth: PurchaseTruth) -> tuple[np.ndarray, bool]:
    """r(i) of a plain view per product, and whether a plain view is surely on-taste (no off-taste view
    goes unanswered: taste_strength 1 or dislike_rate 1)."""
    config = truth.config
    off = (1.0 - config.taste_strength) * (1.0 - config.dislike_rate)
    if off == 0.0:
        return np.zeros(len(truth.popularity)), True
    pi = truth.popularity / truth.popularity.sum()
    return config.taste_strength * (1.0 - config.click_rate) / (off * pi), False
