"""Prepare a database for serving: products from a catalogue (embedded with the encoder, via the
embedding store), simulated shoppers, and taste segments. Does nothing to a database that has products."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from features.catalogue import Catalogue
from features.embedding_store import embed_catalogue
from features.preferences import PreferenceStore
from features.simulator import SimulatorConfig, simulate
from recsys.segments import TasteSegments
from service import repository
from service.auth import ROLES, new_key
from service.db import insert_ignoring_duplicates, products
from service.live import POPULARITY_SEQ, SEGMENTS


@dataclass
class SeedReport:
    products: int
    events: int
    users: int
    segments: int
    already_prepared: bool = False


def seed(engine: sa.Engine, catalogue: Catalogue, encoder, store_path: str | Path | None = None,
         simulated_users: int = 300, segments: int = 8, seed_value: int = 0) -> SeedReport:
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(products)).scalar()
    if count:
        return SeedReport(count, 0, 0, 0, already_prepared=True)
    store = embed_catalogue(catalogue, encoder, store_path)
    ids = catalogue.products.index.to_numpy()
    vectors = store.get(ids)
    simulation = simulate(catalogue, SimulatorConfig(n_users=simulated_users, seed=seed_value))
    users = PreferenceStore(ids, vectors, encoder.encode_texts).rebuild(simulation.events)
    k = min(segments, len(users))
    taste = TasteSegments(k=k, seed=seed_value).fit(users.vectors(users.user_ids)) if k else None
    with engine.begin() as connection:
        insert_ignoring_duplicates(connection, products, _product_rows(catalogue, ids, vectors, encoder.space_id))
        repository.insert_events(connection, simulation.events, simulated=True)
        repository.save_array(connection, POPULARITY_SEQ, np.array(repository.last_event_seq(connection)))
        if taste is not None:
            repository.save_array(connection, SEGMENTS, taste.centroids)
    return SeedReport(len(ids), len(simulation.events), len(users), k)


def _product_rows(catalogue: Catalogue, ids, vectors, space_id: str) -> list[dict]:
    now = time.time()
    attribute_columns = catalogue.attribute_columns
    return [{"product_id": int(pid), "title": catalogue.text(pid),
             "attributes": {c: str(catalogue.products.at[pid, c]) for c in attribute_columns},
             "in_stock": True, "image": catalogue.image_path(pid).read_bytes(),
             "content_hash": catalogue.content_hash(pid), "vector": repository.vector_bytes(vector),
             "space_id": space_id, "deleted": False, "updated_at": now}
            for pid, vector in zip(ids.tolist(), vectors)]


def ensure_key_file(path: Path) -> list[dict]:
    """One key per role, created once and kept (mode 0600): storefront, admin, analyst."""
    if path.is_file():
        return json.loads(path.read_text())
    keys = [new_key(role) for role in ROLES]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(keys, indent=2))
    return keys
