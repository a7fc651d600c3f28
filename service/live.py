"""One web worker's read model: the recommender, product info, taste segments and shoppers' colours,
kept in step with the database's append-only logs (events, product changes) by `catch_up`.

Built once per process from the database (so a restart loses nothing) and caught up before
every ranking, so a change made through any worker reaches every worker's next cards.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import numpy as np
import sqlalchemy as sa

from features.colour_taste import (COLOUR_ATTRIBUTE as COLOUR, COLOUR_EXAMPLES, TYPE_ATTRIBUTE as TYPE, ColourTaste,
                                   colour_to_show, product_kinds)
from features.events import split_usable
from features.preferences import DAY
from features.type_taste import taste_within_type
from recsys.recommender import Recommender, RecommenderConfig
from recsys.segments import TasteSegments
from service import repository

SEGMENTS = "segment_centroids"
POPULARITY_SEQ = "popularity_seq"  # the last event the popularity prior counts
# The prior is refreshed (every worker rebuilds its model from the log, so all agree) once the events since the
# last refresh reach REFRESH_EVENTS or REFRESH_SHARE of those it counts; workers look every POPULARITY_CHECK_S.
REFRESH_EVENTS, REFRESH_SHARE, POPULARITY_CHECK_S = 200, 0.10, 30.0
NEW_ARRIVAL_DAYS = 90  # older products' newness has faded to nothing (recsys.freshness halves it every week)
log = logging.getLogger(__name__)


class LiveModel:
    def __init__(self, engine: sa.Engine, encode_texts=None, config: RecommenderConfig | None = None):
        self.engine, self.encode_texts, self.config = engine, encode_texts, config
        self.lock = threading.RLock()  # the recommender is not thread-safe (dev server, job threads)
        self.recommender: Recommender | None = None
        self.products: dict[int, dict] = {}
        self.segments: TasteSegments | None = None
        self.colours: ColourTaste | None = None  # None: no product has a colour, so no variants
        # live products per (article type, colour), kept as products change: a ranking reads the pairs that
        # have any (what a variant can be drawn toward) without recounting the catalogue
        self._pair_counts: Counter = Counter()
        self.event_seq = self.change_seq = 0
        self.skipped_events: set[int] = set()  # seqs of stored events no model can use (see _usable)
        self.popularity_seq, self._popularity_checked = 0, time.monotonic()

    def load(self) -> "LiveModel":
        with self.lock, self.engine.connect() as connection:
            catalogue = repository.all_products(connection)
            if catalogue.empty:
                raise RuntimeError("the database holds no products; run `tailorcard serve` (which prepares "
                                   "the default catalogue) or PUT products first")
            stored = repository.events_after(connection)
            popularity_seq = repository.load_array(connection, POPULARITY_SEQ)
            self._build(catalogue, self._usable(stored), int(popularity_seq) if popularity_seq is not None else None)
            self.event_seq = int(stored["seq"].max()) if len(stored) else 0  # skipped events count as read
            self.popularity_seq = int(popularity_seq) if popularity_seq is not None else self.event_seq
            self.change_seq = repository.last_change_seq(connection)
            centroids = repository.load_array(connection, SEGMENTS)
        if centroids is not None:
            self.segments = TasteSegments.from_centroids(centroids)
        return self

    def _build(self, catalogue, events, popularity_seq: int | None) -> None:
        """Tastes from every event; the popularity prior as of its last refresh (`popularity_seq`), so a
        worker started later ranks exactly as one that has run since then and folded events in online."""
        vectors = [repository.vector_from(v) for v in catalogue["vector"]]
        self.recommender = Recommender.from_vectors(catalogue["product_id"].to_numpy(), vectors,
                                                    encode_texts=self.encode_texts, config=self.config)
        until = events["seq"] <= (popularity_seq if popularity_seq is not None else events["seq"].max())
        self.recommender.fit(events[until].drop(columns="seq"))
        if not until.all():
            self.recommender.preferences.rebuild(events.drop(columns="seq"))
        self.colours = _colour_taste(catalogue, events)
        for row in catalogue.itertuples():
            self._set_product_info(row._asdict())
        self._mark_new_arrivals(catalogue, vectors)

    def _mark_new_arrivals(self, catalogue, vectors) -> None:
        """Products that joined the running store recently are new arrivals again after a restart, as they were
        when their change was caught up (recsys.freshness): the same added_at, so the same newness."""
        recent = catalogue["created_at"].notna() & ~catalogue["deleted"].astype(bool) & \
            (catalogue["created_at"] > time.time() - NEW_ARRIVAL_DAYS * DAY)
        for position in np.flatnonzero(recent.to_numpy()):
            row = catalogue.iloc[position]
            self.recommender.upsert_item(int(row["product_id"]), vectors[position], in_stock=bool(row["in_stock"]),
                                         added_at=float(row["created_at"]))

    def _set_product_info(self, row: dict) -> None:
        product_id = int(row["product_id"])
        former = self.products.pop(product_id, None)
        if former is not None:
            self._count_pair(former["attributes"], -1)
        if row["deleted"]:
            if product_id in self.recommender.index:
                self.recommender.remove_item(product_id)
            return
        self.products[product_id] = {"id": row["sku"], "key": product_id, "title": row["title"],
                                     "attributes": row["attributes"], "has_photo": bool(row["has_photo"]),
                                     "in_stock": bool(row["in_stock"]), "content_hash": row["content_hash"]}
        self._count_pair(row["attributes"], +1)
        self.recommender.set_in_stock(product_id, bool(row["in_stock"]))

    def _count_pair(self, attributes: dict | None, step: int) -> None:
        pair = (_attribute(attributes, TYPE), _attribute(attributes, COLOUR))
        self._pair_counts[pair] += step
        if self._pair_counts[pair] <= 0:
            del self._pair_counts[pair]

    def colour_taste(self, product_id: int, colour: str) -> np.ndarray | None:
        """The product as it would look in `colour`: its own vector narrowed to the live products of its type
        in that colour (features.type_taste); None when the product is gone, already is that colour, or its
        type does not come in it."""
        with self.lock:
            if product_id not in self.recommender.index \
                    or _attribute(self.products[product_id]["attributes"], COLOUR) == colour:
                return None
            same = self._live_in_colour(colour, _attribute(self.products[product_id]["attributes"], TYPE))
            if not same:
                return None
            own, vectors = self.recommender.index.vectors_of([product_id]), self.recommender.index.vectors_of(same)
        return taste_within_type(own[0], vectors)

    def colour_examples(self, colour: str) -> list[int]:
        """Live products in `colour` (up to COLOUR_EXAMPLES, by id): what the colour looks like, for the
        variant's colour gate (imagegen.variants.personalize.wanted_colour)."""
        with self.lock:
            return self._live_in_colour(colour)[:COLOUR_EXAMPLES]

    def _live_in_colour(self, colour: str, article_type: str | None = None) -> list[int]:
        """Live, indexed products in `colour` (and of `article_type` when given), by id."""
        return [i for i, p in sorted(self.products.items()) if i in self.recommender.index
                and _attribute(p["attributes"], COLOUR) == colour
                and (article_type is None or _attribute(p["attributes"], TYPE) == article_type)]

    # ---- keeping up --------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Apply product changes, then events, committed since this worker last looked."""
        with self.lock, self.engine.connect() as connection:
            new_colour = False
            for change in repository.changes_after(connection, self.change_seq):
                new_colour |= self._apply_change(connection, change)
                self.change_seq = change["seq"]
            if new_colour:
                # a colour new to the catalogue gets an axis: rebuilt from the log, once (rare: a new colour name)
                self.colours = _colour_taste(repository.all_products(connection),
                                             self._usable(repository.events_after(connection)))
            pending = repository.events_after(connection, self.event_seq)
            if len(pending):
                self._rebuild_users(connection, pending["user_id"].unique())
                self.event_seq = int(pending["seq"].max())
        if time.monotonic() - self._popularity_checked >= POPULARITY_CHECK_S:
            self.refresh_popularity()

    def refresh_popularity(self) -> bool:
        """Rebuild from the log when the popularity prior is due (or another worker refreshed it): a new store's
        first events become its popularity without a restart. True when it rebuilt."""
        with self.lock:
            self._popularity_checked = time.monotonic()
            with self.engine.connect() as connection:
                stored = repository.load_array(connection, POPULARITY_SEQ)
            stored = int(stored) if stored is not None else 0
            due = self.event_seq - stored >= max(REFRESH_EVENTS, REFRESH_SHARE * stored)
            if stored == self.popularity_seq and due:
                with self.engine.begin() as connection:
                    repository.save_array(connection, POPULARITY_SEQ, np.array(self.event_seq))
                stored = self.event_seq
            if stored == self.popularity_seq:
                return False
            self.load()
            return True

    def _rebuild_users(self, connection, user_ids) -> None:
        """Rebuild these shoppers' tastes from all their events: the vectors a restart would give them
        (incremental == batch), for work that grows with their events, not with the whole log."""
        their_events = self._usable(repository.events_of_users(connection, user_ids)).drop(columns="seq")
        for preferences in self._preference_stores():
            preferences.rebuild_users(their_events)

    def _usable(self, events):
        """Stored events minus those that would break a shopper's vector (stored before the API refused
        them, or written by hand): skipped, counted, and logged once each, so one bad row never takes its
        shopper down."""
        usable, skipped = split_usable(events)
        new = skipped[~skipped["seq"].isin(self.skipped_events)]
        if len(new):
            self.skipped_events.update(new["seq"].tolist())
            first = new.iloc[0]
            log.warning("skipped %d stored event(s) no model can use (%d in all); e.g. seq %d of user %r: %s",
                        len(new), len(self.skipped_events), first["seq"], first["user_id"], first["problem"])
        return usable

    def _preference_stores(self) -> list:
        return [self.recommender.preferences] + ([self.colours] if self.colours is not None else [])

    def _apply_change(self, connection, change: dict) -> bool:
        """Apply one product change; True when it brings a colour the shoppers' colours have no axis for."""
        product = repository.get_product(connection, change["product_id"], with_vector=True)  # not the photo
        if product is None:  # deleted (now or later); a later change will say so again
            self._set_product_info({"product_id": change["product_id"], "deleted": True})
            return False
        self.recommender.upsert_item(product["product_id"], repository.vector_from(product["vector"]),
                                     in_stock=product["in_stock"], added_at=product["created_at"])
        self._set_product_info({**product, "deleted": False})
        colour = _attribute(product["attributes"], COLOUR)
        if colour is not None and (self.colours is None or colour not in self.colours.names):
            return True
        if self.colours is not None:
            self.colours.set_items([product["product_id"]], [colour], kinds=_kinds([product["attributes"]]))
        return False

    # ---- serving -----------------------------------------------------------------------------

    def rank(self, user_id: str, n: int) -> dict:
        """The cacheable part of a user's cards: products, scores, explanations, the user's segment."""
        with self.lock:
            self.catch_up()
            recommendations = self.recommender.recommend(user_id, n=n, explain=True)
            segment = self.segment_of(user_id)
            colour = self.colours.colour_of(user_id) if self.colours is not None else None
            offered = self.offered_colours()
        cards = []
        for record in recommendations.to_records():
            product = self.products[record["item_id"]]
            attributes = product["attributes"]
            cards.append({"product": {k: product[k] for k in ("id", "title", "attributes")}, "key": product["key"],
                          "content_hash": product["content_hash"], "score": round(record["score"], 4),
                          "explanation": [self._titled(reason) for reason in record.get("because", [])],
                          "has_photo": product["has_photo"],
                          # variants are made per (product, colour segment) of a photo: None wants none
                          "variant_segment": colour_to_show(colour, _attribute(attributes, TYPE),
                                                            _attribute(attributes, COLOUR), offered)
                          if product["has_photo"] else None})
        return {"user_id": user_id, "segment": segment, "colour": colour, "cards": cards}

    def offered_colours(self) -> set:
        """The (article type, colour) pairs the live catalogue has products of (a copy)."""
        with self.lock:
            return set(self._pair_counts)

    def segment_of(self, user_id: str) -> int:
        if self.segments is None:
            return 0
        preferences = self.recommender.preferences
        return self.segments.segment_of(preferences.vector(user_id, fallback=self.recommender.cold_start_vector))

    def _titled(self, reason: dict) -> dict:
        """Name a past product in an explanation, so a page can say 'because you viewed <title>'."""
        if "item_id" in reason and reason["item_id"] in self.products:
            product = self.products[reason["item_id"]]
            return {**reason, "item_id": product["id"], "title": product["title"]}
        return reason


def _colour_taste(catalogue, events) -> ColourTaste | None:
    """Shoppers' colours over the catalogue's colours (None: no product has one), from every event."""
    colours = [_attribute(a, COLOUR) for a in catalogue["attributes"]]
    if not any(colours):
        return None
    return ColourTaste(catalogue["product_id"], colours, kinds=_kinds(catalogue["attributes"])).rebuild(
        events.drop(columns="seq"))


def _kinds(attributes) -> list[str]:
    """Each product's kind (features.colour_taste.product_kinds), from its attributes dict (None: none)."""
    return product_kinds(a or {} for a in attributes)


def _attribute(attributes: dict | None, name: str) -> str | None:
    value = (attributes or {}).get(name)
    return None if value is None or str(value).strip() == "" else str(value)
