"""tailorcard's recommender: taste vector -> FAISS candidates -> score -> filters -> MMR.

    score(item) = confidence(user) * similarity(user, item) + popularity_weight * popularity prior(item)
                  + covisit_weight * fade(user) * co-visitation(user, item)

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
user's own new events (`observe`) change their pull at once.

The user vector (features.preferences) already weights recent events more (time decay) and the
popularity prior counts recent interactions more (its own half-life), so both halves of the
score favour what is recent. Candidates are the index's nearest products, the most popular
ones and the most co-visited ones; MMR then trades a little score for variety among the first `n`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import TailorcardError
from features.preferences import PreferenceStore
from recsys.contract import BaseRecommender, Recommendations, as_recommendations
from recsys.covisitation import SCOPES, CoVisitation
from recsys.explain import explain_items
from recsys.index import ItemIndex
from recsys.items import Items
from recsys.mmr import mmr_order
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

    def check_inputs(self) -> None:
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise RecommenderError(f"mmr_lambda must be in 0..1; got {self.mmr_lambda}")
        if self.covisit_weight < 0 or (self.covisit_fade is not None and self.covisit_fade <= 0) \
                or self.covisit_candidates < 0 or self.covisit_scope not in SCOPES:
            raise RecommenderError(f"covisit_weight >= 0, covisit_fade > 0 or None, covisit_candidates >= 0 and "
                                   f"covisit_scope in {SCOPES} expected; got {self}")
        if self.candidates < 1 or self.popular_candidates < 0 or self.mmr_pool < 1:
            raise RecommenderError(f"candidates >= 1, popular_candidates >= 0, mmr_pool >= 1 expected; got {self}")


class Recommender(BaseRecommender):
    """Serves recommendations and takes online updates: events, product changes, stock."""

    name = "tailorcard"

    def __init__(self, items: Items, index: ItemIndex, preferences: PreferenceStore,
                 config: RecommenderConfig | None = None, covisitation: CoVisitation | None = None):
        self.items, self.index, self.preferences = items, index, preferences
        self.config = config or RecommenderConfig()
        self.config.check_inputs()
        self.covisitation = covisitation or CoVisitation()
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
        """Rebuild every user's taste, the popularity prior and co-visitation from validated events."""
        weights = self.preferences.config.event_weights
        self.preferences.rebuild(events)
        self.items.set_popularity_from_events(events, weights, self.config.popularity_half_life_days)
        self.covisitation = CoVisitation.from_events(self.items.ids, events, weights, self.config.covisit_scope) \
            if self.config.covisit_weight > 0 else CoVisitation()
        self.cold_start_vector = self.popularity_vector()
        return self

    def observe(self, event: dict) -> bool:
        """One new event: the user's vector moves now. False if the event_id was seen before."""
        return self.preferences.observe(event)

    def popularity_vector(self) -> np.ndarray:
        """The taste of 'everyone': popularity-weighted mean of the popular products (cold start)."""
        top = self.items.most_popular_rows(COLD_START_PRODUCTS)
        if len(top) == 0 or self.items.popularity[top].sum() <= 0:
            return np.zeros(self.index.dim, dtype=np.float32)
        vectors = self.index.vectors_of(self.items.ids[top])
        mean = (self.items.popularity[top, None] * vectors).sum(0)
        return (mean / max(np.linalg.norm(mean), 1e-12)).astype(np.float32)

    # ---- product changes --------------------------------------------------------------------

    def upsert_item(self, item_id: int, vector, attributes: dict | None = None, in_stock: bool = True) -> None:
        """Add a product or replace its vector / attributes; no index rebuild."""
        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        self.index.add([item_id], vector)
        self.preferences.set_items([item_id], vector)
        self.items.upsert(item_id, in_stock=in_stock, attributes=attributes)

    def remove_item(self, item_id: int) -> None:
        """Stop recommending a product. Users' past events on it still count towards their taste."""
        self.index.remove([item_id])
        self.items.remove(item_id)

    def set_in_stock(self, item_id: int, in_stock: bool) -> None:
        self.items.set_in_stock(item_id, in_stock)

    # ---- serving ----------------------------------------------------------------------------

    def recommend_many(self, user_ids, n: int = 12, filter_already_bought: bool = True,
                       filter_items=None, explain: bool = False) -> list[Recommendations]:
        if n < 1:
            raise RecommenderError(f"n must be at least 1; got {n}")
        user_ids = [str(u) for u in user_ids]
        users = self.preferences.vectors(user_ids, fallback=self.cold_start_vector)
        histories = [self._history(u) for u in user_ids]
        pulls = [self.covisitation.pull(history["item_id"], history["weight"]) for history, _ in histories]
        ids = self._candidates(users, histories, pulls)
        vectors = self._vectors(ids)
        similarity = self._similarity(users, histories, vectors)
        events = np.array([self.preferences.event_count(u) for u in user_ids], dtype=float)
        scores = self._taste_confidence(events)[:, None] * similarity + self.config.popularity_weight * self._prior(ids) \
            + self._covisit(events, pulls, ids)
        scores[self._excluded(ids, user_ids, filter_already_bought, filter_items)] = -np.inf
        pool = np.argsort(-scores, axis=1, kind="stable")[:, :self.config.mmr_pool * n]
        ids, scores = np.take_along_axis(ids, pool, 1), np.take_along_axis(scores, pool, 1)
        vectors = np.take_along_axis(vectors, pool[:, :, None], 1)
        order = mmr_order(scores, vectors, n, self.config.mmr_lambda)
        explanations = self._explain(histories, events, pulls, ids, vectors, order) if explain else None
        return as_recommendations(user_ids, ids, scores, order, explanations)

    def _history(self, user_id: str) -> tuple[pd.DataFrame, np.ndarray]:
        """The user's sources (products, queries) with decayed weights, and their vectors."""
        history = self.preferences.contributions(user_id)
        return history, self.preferences.sources.vectors[history["source_row"].to_numpy()]

    def _candidates(self, users: np.ndarray, histories, pulls) -> np.ndarray:
        """Per user, each once: nearest to the taste vector, to the strongest past sources, the popular,
        and the most co-visited."""
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
                              np.broadcast_to(popular, (len(users), len(popular))), covisited], axis=1)
        return _drop_repeats(ids)

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

    def _explain(self, histories, events, pulls, ids, vectors, order) -> list[list[dict]]:
        """Per product: the past products and queries that pulled it in, then the co-visitation and
        popularity parts of its score."""
        out = []
        for row, (history, sources) in enumerate(histories):
            positions = order[row][order[row] >= 0]
            chosen = ids[row:row + 1, positions]
            because = explain_items(history, sources, vectors[row, positions], self.config.temperature)
            covisit = self._covisit(events[row:row + 1], pulls[row:row + 1], chosen)[0]
            prior = self._prior(chosen)[0] * self.config.popularity_weight
            out.append([b + ([{"covisitation": round(float(c), 4)}] if c > 0 else []) + [{"popularity": round(float(p), 4)}]
                        for b, c, p in zip(because, covisit, prior)])
        return out

    # ---- persistence ------------------------------------------------------------------------

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "recommender_config.json").write_text(json.dumps(asdict(self.config), indent=2))
        self.items.save(folder / "items.npz")
        self.index.save(folder / "items.faiss")
        self.preferences.save(folder / "preferences.npz")
        self.covisitation.save(folder / "covisitation.npz")

    @classmethod
    def load(cls, folder: str | Path, encode_texts=None) -> "Recommender":
        folder = Path(folder)
        config = RecommenderConfig(**json.loads((folder / "recommender_config.json").read_text()))
        covisitation = CoVisitation.load(folder / "covisitation.npz") if (folder / "covisitation.npz").exists() else None
        return cls(Items.load(folder / "items.npz"), ItemIndex.load(folder / "items.faiss"),
                   PreferenceStore.load(folder / "preferences.npz", encode_texts), config, covisitation)


def _drop_repeats(ids: np.ndarray) -> np.ndarray:
    """Replace the second and later copies of an id within a row by -1."""
    order = np.argsort(ids, axis=1, kind="stable")
    ordered = np.take_along_axis(ids, order, 1)
    repeat = np.zeros_like(ids, dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    out = ids.copy()
    np.put_along_axis(out, order, np.where(repeat, -1, ordered), 1)
    return out
