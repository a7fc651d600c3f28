"""tailorcard's recommender: taste vector -> FAISS candidates -> score -> filters -> MMR.

    score(item) = confidence(user) * similarity(user, item) + popularity_weight * popularity prior(item)
                  + covisit_weight * fade(user) * co-visitation(user, item)
                  + repurchase_weight * repurchase(user, item)
                  + new_arrival(user, item)

similarity is a soft maximum of the item's cosine with each past product and query
(recsys.taste), so a shopper of shoes and of watches gets both, not their average; with
`temperature=None` it is the cosine with the user's taste vector.

confidence = e / (e + taste_shrinkage) for a user with e events: a cold user gets the popular
products, and the taste takes over as evidence accumulates.

co-visitation (recsys.covisitation) is what other shoppers did in the same sessions as the
user's past products, as a share of the user's strongest such pull (0..1): behaviour, not looks,
so it knows which of the look-alikes people actually go for, and what goes with what. It matters
most while the taste is young (its weight does not grow with evidence as the taste's does);
fade(user) = covisit_fade / (covisit_fade + e) can also shrink it outright (None: no fading).
The table is learned in `fit` and changes only at the next `fit` (like the popularity prior); a
user's own new events (`preferences.rebuild_users`) change their pull at once.

repurchase (recsys.repurchase) is what the shopper will order next where shoppers re-order: their
own past orders (recent, big and store-wide re-ordered ones first), their nearest shoppers'
products, and what sells now. Already-bought products are hidden or kept per store
(`filter_already_bought`, "auto": kept where re-orders are common in the store's own history).

new_arrival (recsys.freshness) is what a product added after the fit gets until it earns its own
evidence: its look-alikes' popularity instead of its own none, and a boost for the shoppers whose
taste it fits (among their fresh_reach best matches), fading with its age and its earned events.

The user vector (features.preferences) already weights recent events more (time decay) and the
popularity prior counts recent interactions more (its own half-life), so both halves of the
score favour what is recent. Candidates are the index's nearest products, the most popular
ones and the most co-visited ones; MMR then trades a little score for variety among the first `n`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.checks import check_fields, from_fields, number, whole
from features.errors import TailorcardError
from features.preferences import PreferenceStore
from recsys.contract import BaseRecommender, Recommendations, as_recommendations, wants_filter
from recsys.covisitation import SCOPES, CoVisitation
from recsys.explain import explain_items
from recsys.freshness import Freshness
from recsys.index import ItemIndex
from recsys.items import Items
from recsys.mmr import mmr_order
from recsys.repurchase import Repurchase, RepurchaseConfig
from recsys.taste import taste_similarity


COLD_START_PRODUCTS = 1000  # the popular products whose weighted mean is a cold shopper's taste


class RecommenderError(TailorcardError):
    """A recommendation request that cannot be served as asked."""


@dataclass
class RecommenderConfig:
    candidates: int = 500  # nearest products fetched from the index per user
    popular_candidates: int = 1000  # most popular products always considered too (scoring them is cheap)
    popularity_weight: float = 0.5
    taste_shrinkage: float = 1.0  # a user with e events trusts their taste e / (e + shrinkage); cold = popularity
    popularity_half_life_days: float = 90.0  # a season: long enough to count, short enough to follow trends
    temperature: float | None = 0.05  # soft maximum over past products (recsys.taste); None = cosine with the taste vector
    interests: int = 3  # strongest past sources that also fetch their own nearest products
    mmr_lambda: float = 0.9  # 1.0 = no diversity; lower = more varied lists
    mmr_pool: int = 4  # MMR re-orders the best mmr_pool * n scored candidates
    covisit_weight: float = 0.3  # pull of what others did with the user's products (recsys.covisitation); 0 = off
    covisit_fade: float | None = None  # events at which that weight has halved; None = it never fades (fading cost MAP)
    covisit_scope: str = "session"  # baskets for co-visitation: a shopper's session, or all of a shopper's events
    covisit_candidates: int = 100  # products pulled hardest by co-visitation are candidates too
    # what the shopper will order (again) next (recsys.repurchase), in stores that keep already-bought
    # products (filters_bought is False); 0 = off. Large: on re-order data it should lead the ranking
    repurchase_weight: float = 10.0
    repurchase: RepurchaseConfig = field(default_factory=RepurchaseConfig)
    repurchase_candidates: int = 200  # the user's strongest repurchase products are candidates too
    # True hides what the user bought, False keeps it; "auto" keeps it in stores where at least
    # repeat_share_to_keep_bought of the purchases re-order a product (measured at fit on the store's log)
    filter_already_bought: bool | str = "auto"
    repeat_share_to_keep_bought: float = 0.1
    # new arrivals (recsys.freshness), fading with age and with the evidence they earn; weight and reach
    # chosen with `bench new-items` on seed 123 (3,000 shoppers), never on the reported seed 0
    fresh_weight: float = 0.5  # boost for shoppers whose taste a new product fits; 0 = none
    fresh_reach: int = 100  # ... those for whom it is among their fresh_reach best taste matches
    fresh_half_life_days: float = 7.0  # age at which newness has halved
    fresh_evidence: float = 10.0  # earned popularity (weighted events: a view 1, a purchase 6) that halves it
    fresh_neighbours: int = 20  # established look-alikes whose popularity it borrows; 0 = borrows none

    def __post_init__(self):
        if isinstance(self.repurchase, dict):  # as read back from recommender_config.json
            self.repurchase = from_fields(RepurchaseConfig, self.repurchase, "repurchase", RecommenderError)

    def check_inputs(self) -> None:
        """Every field, by type and range: a bad value is refused here, by name, not later as a ZeroDivisionError."""
        check_fields(self, RecommenderError, (
            ("candidates", whole(self.candidates, 1), "an integer >= 1"),
            ("popular_candidates", whole(self.popular_candidates, 0), "an integer >= 0"),
            ("popularity_weight", number(self.popularity_weight, 0), "a number >= 0"),
            ("taste_shrinkage", number(self.taste_shrinkage, 0), "a number >= 0"),
            ("popularity_half_life_days", number(self.popularity_half_life_days, 0, above=True), "a number > 0"),
            ("temperature", self.temperature is None or number(self.temperature, 0, above=True),
             "a number > 0, or None"),
            ("interests", whole(self.interests, 1), "an integer >= 1"),
            ("mmr_lambda", number(self.mmr_lambda, 0, 1), "a number in 0..1"),
            ("mmr_pool", whole(self.mmr_pool, 1), "an integer >= 1"),
            ("covisit_weight", number(self.covisit_weight, 0), "a number >= 0"),
            ("covisit_fade", self.covisit_fade is None or number(self.covisit_fade, 0, above=True),
             "a number > 0, or None"),
            ("covisit_scope", self.covisit_scope in SCOPES, f"one of {list(SCOPES)}"),
            ("covisit_candidates", whole(self.covisit_candidates, 0), "an integer >= 0"),
            ("repurchase_weight", number(self.repurchase_weight, 0), "a number >= 0"),
            ("repurchase", isinstance(self.repurchase, RepurchaseConfig), "a RepurchaseConfig"),
            ("repurchase_candidates", whole(self.repurchase_candidates, 0), "an integer >= 0"),
            ("filter_already_bought", isinstance(self.filter_already_bought, bool) or self.filter_already_bought == "auto",
             'true, false or "auto"'),
            ("repeat_share_to_keep_bought", number(self.repeat_share_to_keep_bought, 0, 1), "a number in 0..1"),
            ("fresh_weight", number(self.fresh_weight, 0), "a number >= 0"),
            ("fresh_reach", whole(self.fresh_reach, 1), "an integer >= 1"),
            ("fresh_half_life_days", number(self.fresh_half_life_days, 0, above=True), "a number > 0"),
            ("fresh_evidence", number(self.fresh_evidence, 0, above=True), "a number > 0"),
            ("fresh_neighbours", whole(self.fresh_neighbours, 0), "an integer >= 0"),
        ))
        self.repurchase.check_inputs(RecommenderError)


class Recommender(BaseRecommender):
    """Serves recommendations and takes online updates: events, product changes, stock."""

    name = "tailorcard"

    def __init__(self, items: Items, index: ItemIndex, preferences: PreferenceStore,
                 config: RecommenderConfig | None = None, covisitation: CoVisitation | None = None,
                 repurchase: Repurchase | None = None):
        self.items, self.index, self.preferences = items, index, preferences
        self.config = config or RecommenderConfig()
        self.config.check_inputs()
        self.covisitation = covisitation or CoVisitation()
        self.repurchase = repurchase or Repurchase(config=self.config.repurchase)
        self.freshness = Freshness()  # products added after the fit (load restores them)
        self.cold_start_vector = self.popularity_vector()

    @classmethod
    def from_vectors(cls, item_ids, vectors, attributes: pd.DataFrame | None = None, popularity=None,
                     encode_texts=None, config: RecommenderConfig | None = None, preference_config=None,
                     factory: str | None = None) -> "Recommender":
        """Everything from product ids and their (unit) vectors; no users yet."""
        items = Items(item_ids, popularity, attributes=attributes)
        index = ItemIndex.for_items(item_ids, vectors, factory)
        return cls(items, index, PreferenceStore(item_ids, vectors, encode_texts, preference_config), config)

    # ---- learning ---------------------------------------------------------------------------

    def fit(self, events: pd.DataFrame) -> "Recommender":
        """Rebuild every user's taste, the popularity prior, co-visitation and repurchase from validated events."""
        weights = self.preferences.config.event_weights
        self.preferences.rebuild(events)
        self.items.set_popularity_from_events(events, weights, self.config.popularity_half_life_days)
        self.freshness.refresh(self.index, self.items, self.config)
        self.covisitation = CoVisitation.from_events(self.items.ids, events, weights, self.config.covisit_scope) \
            if self.config.covisit_weight > 0 else CoVisitation()
        self.repurchase = Repurchase.from_events(self.items.ids, events, self.config.repurchase,
                                                 tables=self._repurchase_on)
        self.cold_start_vector = self.popularity_vector()
        return self

    @property
    def filters_bought(self) -> bool:
        """This store's policy for already-bought products: as configured, or with "auto" hidden unless
        re-orders are common in the history learned from (at least repeat_share_to_keep_bought of purchases)."""
        return self._filters_bought(self.repurchase.repeat_share)

    def _filters_bought(self, repeat_share: float) -> bool:
        if self.config.filter_already_bought == "auto":
            return repeat_share < self.config.repeat_share_to_keep_bought
        return bool(self.config.filter_already_bought)

    def popularity_vector(self) -> np.ndarray:
        """The taste of 'everyone': popularity-weighted mean of the popular products (cold start)."""
        top = self.items.most_popular_rows(COLD_START_PRODUCTS)
        if len(top) == 0 or self.items.popularity[top].sum() <= 0:
            return np.zeros(self.index.dim, dtype=np.float32)
        vectors = self.index.vectors_of(self.items.ids[top])
        mean = (self.items.popularity[top, None] * vectors).sum(0)
        return (mean / max(np.linalg.norm(mean), 1e-12)).astype(np.float32)

    # ---- product changes --------------------------------------------------------------------

    def upsert_item(self, item_id: int, vector, attributes: dict | None = None, in_stock: bool = True,
                    added_at: float | None = None) -> None:
        """Add a product or replace its vector / attributes; no index rebuild. A product unknown until now,
        or given `added_at` (epoch seconds; default now), is a new arrival (recsys.freshness)."""
        new = added_at is not None or self.items.rows([item_id])[0] < 0
        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        self.index.add([item_id], vector)
        self.preferences.set_items([item_id], vector)
        self.items.upsert(item_id, in_stock=in_stock, attributes=attributes)
        if new or item_id in self.freshness.ids:  # a new arrival's new look borrows anew
            self.freshness.add(item_id, added_at, self.index, self.items, self.config.fresh_neighbours)

    def remove_item(self, item_id: int) -> None:
        """Stop recommending a product. Users' past events on it still count towards their taste."""
        self.index.remove([item_id])
        self.items.remove(item_id)
        self.freshness.forget(item_id)

    def set_in_stock(self, item_id: int, in_stock: bool) -> None:
        self.items.set_in_stock(item_id, in_stock)

    # ---- serving ----------------------------------------------------------------------------

    def recommend_many(self, user_ids, n: int = 12, filter_already_bought: bool | None = None,
                       filter_items=None, explain: bool = False) -> list[Recommendations]:
        """filter_already_bought: None (the default) follows the store's policy (filters_bought)."""
        if n < 1:
            raise RecommenderError(f"n must be at least 1; got {n}")
        user_ids = [str(u) for u in user_ids]
        users = self.preferences.vectors(user_ids, fallback=self.cold_start_vector)
        histories = [self._history(u) for u in user_ids]
        pulls = [self.covisitation.pull(history["item_id"], history["weight"]) for history, _ in histories]
        ids = self._candidates(users, histories, pulls, user_ids)
        vectors = self._vectors(ids)
        similarity = self._similarity(users, histories, vectors)
        events = np.array([self.preferences.event_count(u) for u in user_ids], dtype=float)
        confidence = self._taste_confidence(events)
        scores = confidence[:, None] * similarity + self.config.popularity_weight * self._prior(ids) \
            + self._covisit(events, pulls, ids) + self._repurchase(user_ids, ids)
        fresh = self.freshness.score(self.items, ids, confidence, similarity, self.config)
        scores += fresh
        hide_bought = wants_filter(filter_already_bought, self.filters_bought)
        scores[self._excluded(ids, user_ids, hide_bought, filter_items)] = -np.inf
        pool = np.argsort(-scores, axis=1, kind="stable")[:, :self.config.mmr_pool * n]
        ids, scores = np.take_along_axis(ids, pool, 1), np.take_along_axis(scores, pool, 1)
        vectors, fresh = np.take_along_axis(vectors, pool[:, :, None], 1), np.take_along_axis(fresh, pool, 1)
        order = mmr_order(scores, vectors, n, self.config.mmr_lambda)
        explanations = self._explain(user_ids, histories, events, pulls, ids, vectors, order, fresh) if explain else None
        return as_recommendations(user_ids, ids, scores, order, explanations)

    def _history(self, user_id: str) -> tuple[pd.DataFrame, np.ndarray]:
        """The user's sources (products, queries) with decayed weights, and their vectors."""
        history = self.preferences.contributions(user_id)
        return history, self.preferences.sources.vectors[history["source_row"].to_numpy()]

    def _candidates(self, users: np.ndarray, histories, pulls, user_ids) -> np.ndarray:
        """Per user, each once: nearest to the taste vector, to the strongest past sources, the popular,
        the most co-visited and the likeliest re-orders."""
        _, near_taste = self.index.search(users, self.config.candidates)
        interests = self._interest_vectors(users, histories)
        per_interest = max(1, self.config.candidates // self.config.interests)
        _, near_interests = self.index.search(interests.reshape(-1, users.shape[1]), per_interest)
        popular = self.items.ids[self.items.most_popular_rows(self.config.popular_candidates)]
        covisited = np.full((len(users), self.config.covisit_candidates), -1, dtype=np.int64)
        for row, pull in enumerate(pulls):
            strongest = self.covisitation.strongest(pull, self.config.covisit_candidates)
            covisited[row, :len(strongest)] = strongest
        covisited[self.items.rows(covisited.ravel()).reshape(covisited.shape) < 0] = -1  # removed since the fit
        ids = np.concatenate([near_taste, near_interests.reshape(len(users), -1),
                              np.broadcast_to(popular, (len(users), len(popular))), covisited,
                              self._repurchase_candidates(user_ids)], axis=1)
        return _drop_repeats(ids)

    def _repurchase_on(self, repeat_share: float | None = None) -> bool:
        """The repurchase term serves stores that keep already-bought products: where shoppers re-order."""
        share = self.repurchase.repeat_share if repeat_share is None else repeat_share
        return self.config.repurchase_weight > 0 and not self._filters_bought(share)

    def _repurchase_candidates(self, user_ids) -> np.ndarray:
        """(users, repurchase_candidates) each user's likeliest re-orders; -1 pads, and stands for products
        removed since the fit."""
        k = self.config.repurchase_candidates if self._repurchase_on() else 0
        out = np.full((len(user_ids), k), -1, dtype=np.int64)
        for row, user_id in enumerate(user_ids):
            strongest = self.repurchase.strongest(user_id, k)
            out[row, :len(strongest)] = strongest
        out[self.items.rows(out.ravel()).reshape(out.shape) < 0] = -1
        return out

    def _interest_vectors(self, users: np.ndarray, histories) -> np.ndarray:
        """(users, interests, dim): each user's strongest positive sources, padded with the taste vector."""
        out = np.repeat(users[:, None, :], self.config.interests, axis=1)
        for row, (history, vectors) in enumerate(histories):
            strongest = np.argsort(-history["weight"].to_numpy())[:self.config.interests]
            strongest = strongest[history["weight"].to_numpy()[strongest] > 0]
            out[row, :len(strongest)] = vectors[strongest]
        return out

    def _similarity(self, users: np.ndarray, histories, vectors: np.ndarray) -> np.ndarray:
        """Taste similarity per candidate: cosine with the taste vector, or the kernel pull of the history."""
        similarity = np.einsum("ud,ukd->uk", users, vectors)
        if self.config.temperature is not None:
            for row, (history, sources) in enumerate(histories):
                if len(history):
                    similarity[row] = taste_similarity(history["weight"].to_numpy(), sources, vectors[row],
                                                       self.config.temperature)
        return similarity

    def _taste_confidence(self, events: np.ndarray) -> np.ndarray:
        """Few events make a noisy taste: lean on popularity until there is more to go on."""
        return events / (events + self.config.taste_shrinkage) if self.config.taste_shrinkage > 0 else np.ones(len(events))

    def _covisit(self, events: np.ndarray, pulls, ids: np.ndarray) -> np.ndarray:
        """Co-visitation pull on each candidate, relative to the user's strongest (0..1), weighted; the
        weight halves at covisit_fade events: with little history what others did says the most."""
        if self.config.covisit_weight <= 0:
            return np.zeros(ids.shape)
        fade = self.config.covisit_fade
        weight = self.config.covisit_weight * (np.ones(len(events)) if fade is None else fade / (fade + events))
        out = np.zeros(ids.shape)
        for row, pull in enumerate(pulls):
            if pull.nnz:
                out[row] = weight[row] * self.covisitation.scores_of(pull, ids[row]) / pull.data.max()
        return out

    def _repurchase(self, user_ids, ids: np.ndarray) -> np.ndarray:
        """What the user will likely order (again), weighted (recsys.repurchase); 0 when off."""
        if not self._repurchase_on():
            return np.zeros(ids.shape)
        return self.config.repurchase_weight * self.repurchase.scores(user_ids, ids)

    def _vectors(self, ids: np.ndarray) -> np.ndarray:
        """Vectors for an id matrix; -1 (no product) gives a zero vector."""
        flat = ids.ravel()
        vectors = np.zeros((len(flat), self.index.dim), dtype=np.float32)
        vectors[flat >= 0] = self.index.vectors_of(flat[flat >= 0])
        return vectors.reshape(*ids.shape, self.index.dim)

    def _prior(self, ids: np.ndarray) -> np.ndarray:
        rows = self.items.rows(ids.ravel()).reshape(ids.shape)
        return np.where(rows >= 0, self.items.prior()[np.maximum(rows, 0)], 0.0)

    def _excluded(self, ids, user_ids, filter_already_bought, filter_items) -> np.ndarray:
        """Mask of candidates never to show: unknown, out of stock, excluded, already bought."""
        rows = self.items.rows(ids.ravel()).reshape(ids.shape)
        excluded = (rows < 0) | ~self.items.in_stock[np.maximum(rows, 0)]
        if filter_items is not None:
            excluded |= np.isin(ids, np.asarray(list(filter_items), dtype=np.int64))
        if filter_already_bought:
            for row, user_id in enumerate(user_ids):
                excluded[row] |= np.isin(ids[row], self.preferences.bought_items(user_id))
        return excluded

    def _explain(self, user_ids, histories, events, pulls, ids, vectors, order, fresh) -> list[list[dict]]:
        """Per product: the past products and queries that pulled it in, then the co-visitation, repurchase,
        new arrival and popularity parts of its score."""
        out = []
        for row, (history, sources) in enumerate(histories):
            positions = order[row][order[row] >= 0]
            chosen = ids[row:row + 1, positions]
            because = explain_items(history, sources, vectors[row, positions], self.config.temperature)
            covisit = self._covisit(events[row:row + 1], pulls[row:row + 1], chosen)[0]
            repurchase = self._repurchase(user_ids[row:row + 1], chosen)[0]
            prior = self._prior(chosen)[0] * self.config.popularity_weight
            new = self._new_arrival_reasons(chosen[0], fresh[row, positions])
            out.append([b + ([{"covisitation": round(float(c), 4)}] if c > 0 else [])
                        + ([{"repurchase": round(float(r), 4)}] if r > 0 else []) + a + [{"popularity": round(float(p), 4)}]
                        for b, c, r, a, p in zip(because, covisit, repurchase, new, prior)])
        return out

    def _new_arrival_reasons(self, item_ids: np.ndarray, fresh: np.ndarray) -> list[list[dict]]:
        """Per product, [{"new_arrival": its part of the score, "days_since_added": ...}], or [] if established."""
        days = self.freshness.days_since_added(item_ids)
        return [[{"new_arrival": round(float(f), 4), "days_since_added": round(float(d), 2)}] if f != 0 else []
                for f, d in zip(fresh, days)]


def _drop_repeats(ids: np.ndarray) -> np.ndarray:
    """Replace the second and later copies of an id within a row by -1."""
    order = np.argsort(ids, axis=1, kind="stable")
    ordered = np.take_along_axis(ids, order, 1)
    repeat = np.zeros_like(ids, dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    out = ids.copy()
    np.put_along_axis(out, order, np.where(repeat, -1, ordered), 1)
    return out
