"""A shopper's colour: the catalogue colour their behaviour leans to, learned from events.

CLIP-space taste vectors are dominated by what a shopper browses (shirts, shoes), not by colour,
and k-means segments over them split shoppers by article type. A photo variant, though, is
most visibly personal in its colour. So colour gets its own preference vector, built by the
same machinery as the taste vector (features.preferences: event weights, half-life decay,
negatives push away, incremental == batch), over one axis per catalogue colour.

Each product contributes its colour's one-hot *minus the colour shares of its kind* (its article
type, gender and usage, where the catalogue has them): browsing at random leans nowhere, and a
shopper is not called a "Black" shopper only because they browse watches, which mostly are black.
A kind's shares start from the catalogue's, worth KIND_PRIOR products, so that in a small catalogue,
where most kinds have one product, a product still says something of colour. Search queries say
nothing about colour here (a zero vector).
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from features.errors import TailorcardError
from features.preferences import PreferenceConfig, PreferenceStore


MIN_LEAN = 1.0  # in event weights: a view's worth more of the colour than browsing at random would give
COLOUR_EXAMPLES = 30  # catalogue photos that show what a colour looks like (a median over them)
# What, besides taste, decides a product's colour. On simulated shoppers (fashion-small, 1,000 shoppers, tuning
# seeds 1 / 2, an ad-hoc script replaying `bench variants`'s cards) the colour learned was one of the shopper's for
# 69.6 % / 66.5 % of cards wanting a variant when centred on the catalogue, 78.7 % / 76.6 % on these kinds
# (76.2 % / 72.1 % on article type alone), 78.1 % / 75.5 % with KIND_PRIOR 1 (77.7 % / 74.9 % with 2; 5: 77.2 / 74.0).
# Optional catalogue attributes that refine variants when a catalogue has them (fashion-small does); a
# catalogue without them simply has no colour variants. Nothing else depends on any attribute's name.
COLOUR_ATTRIBUTE = "baseColour"  # a shopper's colour is learned over it
TYPE_ATTRIBUTE = "articleType"  # a variant keeps its product's type
KIND_ATTRIBUTES = (TYPE_ATTRIBUTE, "gender", "usage")
KIND_PRIOR = 1.0  # a kind's colour shares start from the catalogue's, weighted as this many products


class ColourTaste:
    """Per-shopper colour leanings over the colours of a catalogue (e.g. its `baseColour` attribute)."""

    def __init__(self, product_ids, colours, config: PreferenceConfig | None = None, min_lean: float = MIN_LEAN,
                 kinds=None):
        """`kinds`: one label per product (see product_kinds); None centres every product on the catalogue."""
        product_ids = np.asarray(product_ids, dtype=np.int64)
        colours = _colour_names(colours, len(product_ids))
        kinds = _kind_labels(kinds, len(product_ids))
        named = colours != ""
        if not named.any():
            raise TailorcardError("no product has a colour; a colour taste needs a colour attribute")
        self.names, self.min_lean = sorted(set(colours[named].tolist())), float(min_lean)
        onehot = self._onehot(colours)
        self.shares = onehot[named].mean(axis=0)
        counts = pd.DataFrame(onehot[named], index=kinds[named]).groupby(level=0).sum()
        shares = (counts.to_numpy() + KIND_PRIOR * self.shares) / (counts.to_numpy().sum(axis=1, keepdims=True)
                                                                   + KIND_PRIOR)
        self.kind_shares = dict(zip(counts.index, shares.astype(np.float32)))
        self.preferences = PreferenceStore(product_ids, self._axes(colours, kinds), encode_texts=self._no_colour,
                                           config=config)

    def _onehot(self, colours: np.ndarray) -> np.ndarray:
        return (colours[:, None] == np.array(self.names)[None, :]).astype(np.float32)

    def _axes(self, colours: np.ndarray, kinds: np.ndarray) -> np.ndarray:
        """One-hot minus the kind's shares per product; a product without a (known) colour leans nowhere, one of
        a kind unseen at construction is centred on the catalogue."""
        onehot = self._onehot(colours)
        if not len(kinds):
            return onehot
        expected = np.stack([self.kind_shares.get(kind, self.shares) for kind in kinds])
        return np.where(onehot.any(axis=1, keepdims=True), onehot - expected, 0.0).astype(np.float32)

    def _no_colour(self, texts) -> np.ndarray:
        return np.zeros((len(texts), len(self.names)), dtype=np.float32)

    def rebuild(self, events: pd.DataFrame) -> "ColourTaste":
        self.preferences.rebuild(events)
        return self

    def rebuild_users(self, events: pd.DataFrame) -> "ColourTaste":
        """Rebuild only the shoppers in `events`, given all their events (PreferenceStore.rebuild_users)."""
        self.preferences.rebuild_users(events)
        return self

    def observe(self, event: dict) -> bool:
        return self.preferences.observe(event)

    def set_items(self, product_ids, colours, kinds=None) -> None:
        """Add or recolour products (a colour outside the fitted names leans nowhere)."""
        self.preferences.set_items(product_ids, self._axes(_colour_names(colours, len(product_ids)),
                                                           _kind_labels(kinds, len(product_ids))))

    def colours_of(self, user_ids) -> list[str | None]:
        """Each shopper's colour: the one their behaviour leans to most, as of their latest event; None when
        no colour leans by at least `min_lean` (or they have no events)."""
        leans = self.preferences.decayed_sums(user_ids)
        best = leans.argmax(axis=1)
        return [self.names[b] if leans[row, b] >= self.min_lean else None for row, b in enumerate(best)]

    def colour_of(self, user_id) -> str | None:
        return self.colours_of([user_id])[0]


def product_kinds(attributes: Iterable[Mapping]) -> list[str]:
    """Each product's kind: its KIND_ATTRIBUTES values (those it has), e.g. "Watches|Men|Casual"."""
    return ["|".join(str(row.get(name) or "") for name in KIND_ATTRIBUTES) for row in attributes]


def _kind_labels(kinds, n: int) -> np.ndarray:
    if kinds is None:
        return np.full(n, "", dtype=object)  # one kind: the whole catalogue
    labels = pd.Series(kinds, dtype=object).fillna("").astype(str).to_numpy()
    if len(labels) != n:
        raise TailorcardError(f"{len(labels)} kind(s) for {n} product(s); expected one per product")
    return labels


def _colour_names(colours, n: int) -> np.ndarray:
    names = pd.Series(colours, dtype=object).fillna("").astype(str).str.strip().to_numpy()
    if len(names) != n:
        raise TailorcardError(f"{len(names)} colour(s) for {n} product(s); expected one per product")
    return names


def colour_to_show(shopper_colour: str | None, product_type, product_colour, offered) -> str | None:
    """The colour a product's variant should lean to for a shopper: theirs, unless they have none yet,
    the product already is that colour, or no product of its type comes in it (`offered`: the
    catalogue's (type, colour) pairs), when there is nothing to draw the product toward."""
    if shopper_colour is None or shopper_colour == product_colour or (product_type, shopper_colour) not in offered:
        return None
    return shopper_colour
