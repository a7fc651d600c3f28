"""Prepare a database for serving: products from a catalogue (embedded with the encoder, via the
embedding store), taste segments, and (for the demo only, when asked) simulated shoppers. Does nothing
to a database that has products: `tailorcard catalogue sync` keeps those in step with the catalogue."""
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
         simulated_users: int = 0, segments: int = 8, seed_value: int = 0) -> SeedReport:
    """Products and segments; `simulated_users` SIMULATED shoppers too (the demo), never mixed in otherwise.
    Segments are k-means over the shoppers' taste vectors, or, with no shoppers yet, over the products' own
    vectors (the same CLIP space: a segment is a region of taste either way)."""
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(products)).scalar()
    if count:
        return SeedReport(count, 0, 0, 0, already_prepared=True)
    keys = catalogue.products.index.to_numpy()
    vectors = embed_catalogue(catalogue, encoder, store_path).get(keys)
    events, tastes = _simulated_shoppers(catalogue, keys, vectors, encoder, simulated_users, seed_value)
    k = min(segments, len(tastes))
    taste = TasteSegments(k=k, seed=seed_value).fit(tastes) if k else None
    with engine.begin() as connection:
        insert_ignoring_duplicates(connection, products, catalogue_rows(catalogue, keys, vectors, encoder.space_id))
        if events is not None:
            repository.insert_events(connection, events, simulated=True)
        repository.save_array(connection, POPULARITY_SEQ, np.array(repository.last_event_seq(connection)))
        if taste is not None:
            repository.save_array(connection, SEGMENTS, taste.centroids)
    return SeedReport(len(keys), 0 if events is None else len(events), len(tastes) if events is not None else 0, k)


def _simulated_shoppers(catalogue, keys, vectors, encoder, n: int, seed_value: int):
    """(SIMULATED events, their shoppers' taste vectors), or (None, the product vectors) when n is 0."""
    if not n:
        return None, vectors
    from features.simulator import SimulatorConfig, simulate  # the lab's simulator: only for the demo
    simulation = simulate(catalogue, SimulatorConfig(n_users=n, seed=seed_value))
    users = PreferenceStore(keys, vectors, encoder.encode_texts).rebuild(simulation.events)
    return simulation.events, users.vectors(users.user_ids)


def catalogue_rows(catalogue: Catalogue, keys, vectors, space_id: str) -> list[dict]:
    """`products` rows for catalogue products and their vectors (a text-only product stores no photo bytes)."""
    now = time.time()
    return [_catalogue_row(catalogue, key, vector, space_id, now) for key, vector in zip(np.asarray(keys).tolist(), vectors)]


def _catalogue_row(catalogue: Catalogue, key: int, vector, space_id: str, now: float) -> dict:
    photo = catalogue.photo_bytes(key)  # read once: stored, and hashed
    description = str(catalogue.products.at[key, "description"]).strip() if "description" in catalogue.products else ""
    return {"product_id": int(key), "sku": catalogue.product_id(key), "title": catalogue.text(key),
            "description": description or None,
            "attributes": {c: str(catalogue.products.at[key, c]) for c in catalogue.attribute_columns},
            "in_stock": True, "image": photo, "content_hash": catalogue.content_hash(key, photo),
            "vector": repository.vector_bytes(vector), "space_id": space_id, "deleted": False, "updated_at": now}


def ensure_key_file(path: Path) -> list[dict]:
    """One key per role, created once and kept (mode 0600): storefront, admin, analyst."""
    if path.is_file():
        return json.loads(path.read_text())
    keys = [new_key(role) for role in ROLES]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(keys, indent=2))
    return keys
