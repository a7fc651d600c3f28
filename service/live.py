"""One web worker's read model: the recommender, product info and taste segments,
kept in step with the database's append-only logs (events, product changes) by `catch_up`.

Built once per process from the database (so a restart loses nothing) and caught up before
every ranking, so a change made through any worker reaches every worker's next cards.
"""
from __future__ import annotations

import logging
import threading

import numpy as np
import sqlalchemy as sa

from features.events import split_usable
from features.preferences import DAY
from recsys.recommender import Recommender, RecommenderConfig
from recsys.segments import TasteSegments
from service import repository
from service.clock import Clock, SystemClock

SEGMENTS = "segment_centroids"
POPULARITY_SEQ = "popularity_seq"  # the last event the popularity prior counts
# The prior is refreshed (every worker rebuilds its model from the log, so all agree) once the events since the
# last refresh reach REFRESH_EVENTS or REFRESH_SHARE of those it counts; workers look every POPULARITY_CHECK_S.
REFRESH_EVENTS, REFRESH_SHARE, POPULARITY_CHECK_S = 200, 0.10, 30.0
NEW_ARRIVAL_DAYS = 90  # older products' newness has faded to nothing (recsys.freshness halves it every week)
log = logging.getLogger(__name__)


class LiveModel:
    def __init__(self, engine: sa.Engine, encode_texts=None, config: RecommenderConfig | None = None,
                 clock: Clock | None = None):
        self.engine, self.encode_texts, self.config = engine, encode_texts, config
        self.clock = clock or SystemClock()
        self.lock = threading.RLock()  # the recommender is not thread-safe (dev server, job threads)
        self.recommender: Recommender | None = None
        self.products: dict[int, dict] = {}
        self.segments: TasteSegments | None = None
        self.event_seq = self.change_seq = 0
        self.skipped_events: set[int] = set()  # seqs of stored events no model can use (see _usable)
        self.popularity_seq, self._popularity_checked = 0, self.clock.monotonic()

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
        for row in catalogue.itertuples():
            self._set_product_info(row._asdict())
        self._mark_new_arrivals(catalogue, vectors)

    def _mark_new_arrivals(self, catalogue, vectors) -> None:
        """Products that joined the running store recently are new arrivals again after a restart, as they were
        when their change was caught up (recsys.freshness): the same added_at, so the same newness."""
        recent = catalogue["created_at"].notna() & ~catalogue["deleted"].astype(bool) & \
            (catalogue["created_at"] > self.clock.time() - NEW_ARRIVAL_DAYS * DAY)
        for position in np.flatnonzero(recent.to_numpy()):
            row = catalogue.iloc[position]
            self.recommender.upsert_item(int(row["product_id"]), vectors[position], in_stock=bool(row["in_stock"]),
                                         added_at=float(row["created_at"]))

    def _set_product_info(self, row: dict) -> None:
        product_id = int(row["product_id"])
        self.products.pop(product_id, None)
        if row["deleted"]:
            if product_id in self.recommender.index:
                self.recommender.remove_item(product_id)
            return
        self.products[product_id] = {"id": row["sku"], "key": product_id, "title": row["title"],
                                     "attributes": row["attributes"], "has_photo": bool(row["has_photo"]),
                                     "in_stock": bool(row["in_stock"]), "content_hash": row["content_hash"]}
        self.recommender.set_in_stock(product_id, bool(row["in_stock"]))

    # ---- keeping up --------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Apply product changes, then events, committed since this worker last looked."""
        with self.lock, self.engine.connect() as connection:
            for change in repository.changes_after(connection, self.change_seq):
                self._apply_change(connection, change)
                self.change_seq = change["seq"]
            pending = repository.events_after(connection, self.event_seq)
            if len(pending):
                self._rebuild_users(connection, pending["user_id"].unique())
                self.event_seq = int(pending["seq"].max())
        if self.clock.monotonic() - self._popularity_checked >= POPULARITY_CHECK_S:
            self.refresh_popularity()

    def refresh_popularity(self) -> bool:
        """Rebuild from the log when the popularity prior is due (or another worker refreshed it): a new store's
        first events become its popularity without a restart. True when it rebuilt."""
        with self.lock:
            self._popularity_checked = self.clock.monotonic()
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
        self.recommender.preferences.rebuild_users(their_events)

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

    def _apply_change(self, connection, change: dict) -> None:
        """Apply one product change."""
        product = repository.get_product(connection, change["product_id"], with_vector=True)  # not the photo
        if product is None:  # deleted (now or later); a later change will say so again
            self._set_product_info({"product_id": change["product_id"], "deleted": True})
            return
        self.recommender.upsert_item(product["product_id"], repository.vector_from(product["vector"]),
                                     in_stock=product["in_stock"], added_at=product["created_at"])
        self._set_product_info({**product, "deleted": False})

    # ---- serving -----------------------------------------------------------------------------

    def rank(self, user_id: str, n: int) -> dict:
        """The cacheable part of a user's cards: products, scores, explanations, the user's taste segment."""
        with self.lock:
            self.catch_up()
            recommendations = self.recommender.recommend(user_id, n=n, explain=True)
            segment = self.segment_of(user_id)
        cards = []
        for record in recommendations.to_records():
            product = self.products[record["item_id"]]
            cards.append({"product": {k: product[k] for k in ("id", "title", "attributes")}, "key": product["key"],
                          "content_hash": product["content_hash"], "score": round(record["score"], 4),
                          "explanation": [self._titled(reason) for reason in record.get("because", [])],
                          "has_photo": product["has_photo"]})
        return {"user_id": user_id, "segment": segment, "cards": cards}

    def segment_centroid(self, segment: int) -> np.ndarray | None:
        """The taste segment's centroid (unit, CLIP space): what its scenes are painted for; None: no such one."""
        with self.lock:
            if self.segments is None or not 0 <= int(segment) < self.segments.k:
                return None
            return self.segments.centroids[int(segment)].copy()

    def segment_of(self, user_id: str) -> int | None:
        """The shopper's taste segment (the nearest centroid to their taste vector); None: no segments fitted."""
        if self.segments is None:
            return None
        preferences = self.recommender.preferences
        return self.segments.segment_of(preferences.vector(user_id, fallback=self.recommender.cold_start_vector))

    def _titled(self, reason: dict) -> dict:
        """Name a past product in an explanation, so a page can say 'because you viewed <title>'."""
        if "item_id" in reason and reason["item_id"] in self.products:
            product = self.products[reason["item_id"]]
            return {**reason, "item_id": product["id"], "title": product["title"]}
        return reason
