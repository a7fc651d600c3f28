"""Reads and writes of the service's durable state; the only module that writes SQL.

Vectors are stored as float32 bytes; a product is soft-deleted (its vector stays, because past
events still point at it). Every product change appends to `product_changes` in the same
transaction, so workers see changes in commit order.
"""
from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.events import NO_ITEM
from service.db import (INSERT_CHUNK, card_cache, events, insert_ignoring_duplicates, model_state, product_changes,
                        products, upsert)

CARDS_FORMAT = 4  # bump when the cached ranking's shape changes: older entries then simply miss
EVENT_COLUMNS = ("event_id", "user_id", "item_id", "type", "timestamp", "session_id", "query", "value")


def vector_bytes(vector) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def vector_from(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


# ---- products --------------------------------------------------------------------------------

def save_product(connection, product: dict) -> None:
    """Insert or replace a product (all columns of `products`; `sku` is its id text) and log the change. A
    product new to the database is stamped `created_at` (a new arrival, recsys.freshness); a replaced one keeps
    its stamp."""
    now = time.time()
    stored = connection.execute(sa.select(SKU, products.c.created_at).where(
        products.c.product_id == product["product_id"])).first()
    if stored is not None and stored.sku != product["sku"]:
        raise KeyCollision(f"product ids {product['sku']!r} and {stored.sku!r} share the key {product['product_id']}; "
                           f"rename one of them")
    created_at = now if stored is None else stored.created_at
    upsert(connection, products, {**product, "deleted": False, "updated_at": now, "created_at": created_at},
           ["product_id"])
    connection.execute(product_changes.insert().values(product_id=product["product_id"], kind="upsert"))


class KeyCollision(ValueError):
    """Two product ids share a key (features.ids.product_key): practically never, and refused when it happens."""


# a product's id text: its sku, or (rows written before SKUs) its key's digits, which was its id then
SKU = sa.func.coalesce(products.c.sku, sa.cast(products.c.product_id, sa.String)).label("sku")
HAS_PHOTO = (sa.func.length(products.c.image) > 0).label("has_photo")  # a text-only product stores no bytes


def delete_product(connection, product_id: int) -> bool:
    """Soft-delete; False if there was no live product with this id."""
    done = connection.execute(products.update().where(products.c.product_id == product_id, ~products.c.deleted)
                              .values(deleted=True, updated_at=time.time())).rowcount
    if done:
        connection.execute(product_changes.insert().values(product_id=product_id, kind="delete"))
    return bool(done)


def get_product(connection, product_id: int, with_image: bool = False, with_vector: bool = False) -> dict | None:
    """A live product's row; its photo and vector (blobs) only when asked for (with_image brings both)."""
    left_out = set() if with_image else {"image"} if with_vector else {"image", "vector"}
    columns = [SKU, HAS_PHOTO, *(c for c in products.c if c.name not in left_out and c.name != "sku")]
    row = connection.execute(sa.select(*columns).where(products.c.product_id == product_id,
                                                       ~products.c.deleted)).mappings().first()
    return dict(row) if row else None


def sku_of(connection, product_id: int) -> str:
    """The store's id of a product (deleted ones too: a variant's provenance outlives its product)."""
    return connection.execute(sa.select(SKU).where(products.c.product_id == product_id)).scalar() or str(product_id)


def product_images(connection, product_ids) -> list[bytes]:
    """The photos of the live products among `product_ids` (a few: one query), in product id order."""
    query = sa.select(products.c.image).where(products.c.product_id.in_([int(i) for i in product_ids]),
                                              ~products.c.deleted)
    return list(connection.execute(query.order_by(products.c.product_id)).scalars())


def all_products(connection) -> pd.DataFrame:
    """Every product, deleted ones included (their vectors are needed to replay old events)."""
    query = sa.select(products.c.product_id, SKU, HAS_PHOTO, products.c.title, products.c.attributes,
                      products.c.in_stock, products.c.content_hash, products.c.vector, products.c.deleted,
                      products.c.created_at)
    return pd.DataFrame(connection.execute(query.order_by(products.c.product_id)).mappings().all(),
                        columns=[c.name for c in query.selected_columns])


def live_product_ids(connection, among) -> list[int]:
    ids = sorted({int(i) for i in among})
    query = sa.select(products.c.product_id).where(products.c.product_id.in_(ids), ~products.c.deleted)
    return [int(i) for i in connection.execute(query).scalars()]


def changes_after(connection, seq: int) -> list[dict]:
    query = sa.select(product_changes).where(product_changes.c.seq > seq).order_by(product_changes.c.seq)
    return [dict(r) for r in connection.execute(query).mappings()]


def last_change_seq(connection) -> int:
    return connection.execute(sa.select(sa.func.max(product_changes.c.seq))).scalar() or 0


# ---- events ----------------------------------------------------------------------------------

def insert_events(connection, frame: pd.DataFrame, simulated: bool = False) -> int:
    """Store validated events (features.events schema); returns how many were new (by event_id)."""
    columns = frame.reindex(columns=list(EVENT_COLUMNS))
    records = columns.astype(object).where(columns.notna(), None).to_dict("records")
    for record in records:
        record["item_id"] = None if record["item_id"] == NO_ITEM else int(record["item_id"])
        record["simulated"] = simulated
    return insert_ignoring_duplicates(connection, events, records)


_EVENTS = sa.select(events.c.seq, *[events.c[c] for c in EVENT_COLUMNS])


def events_after(connection, seq: int = 0) -> pd.DataFrame:
    """Events in arrival order, typed as features.events makes them (item_id -1 for a search)."""
    return _event_frame(connection.execute(_EVENTS.where(events.c.seq > seq).order_by(events.c.seq)).all())


def events_of_users(connection, user_ids) -> pd.DataFrame:
    """Every event of these users, in arrival order, typed as events_after; read through the user index."""
    users = sorted({str(u) for u in user_ids})
    rows = [row for start in range(0, len(users), INSERT_CHUNK)  # SQLite caps bound parameters per statement
            for row in connection.execute(_EVENTS.where(events.c.user_id.in_(users[start:start + INSERT_CHUNK])))]
    return _event_frame(rows).sort_values("seq", ignore_index=True)


def _event_frame(rows) -> pd.DataFrame:
    # plain tuples: pandas probes each SQLAlchemy Row for attributes, about three times slower
    # object columns first: ints mixed with NULLs would become float64, which rounds keys above 2**53
    frame = pd.DataFrame([tuple(row) for row in rows], columns=["seq", *EVENT_COLUMNS], dtype=object)
    return frame.astype({"seq": "int64", "timestamp": "float64", "value": "float64"}).assign(
        item_id=frame["item_id"].fillna(NO_ITEM).astype("int64"))


def last_event_seq(connection) -> int:
    return connection.execute(sa.select(sa.func.max(events.c.seq))).scalar() or 0


def list_users(connection, limit: int) -> list[dict]:
    """Most active shoppers first, with whether their behaviour is simulated."""
    query = (sa.select(events.c.user_id, sa.func.count().label("events"),
                       sa.func.max(sa.cast(events.c.simulated, sa.Integer)).label("simulated"))
             .group_by(events.c.user_id).order_by(sa.desc("events"), events.c.user_id).limit(limit))
    return [{"user_id": u, "events": int(n), "simulated": bool(s)} for u, n, s in connection.execute(query)]


# ---- card cache ------------------------------------------------------------------------------

# A cards request asks the database one small question first (what the cards depend on: the shopper's
# latest event and the catalogue's latest change, both index lookups) and answers from the worker's own
# RankingCache when it can; only a worker-cache miss reads (and decodes) the stored payload. The statements
# are built once, so SQLAlchemy caches their compiled form.
_USER, _N = sa.bindparam("user_id"), sa.bindparam("n")
_CARDS_STAMP = sa.select(
    sa.select(sa.func.max(events.c.seq)).where(events.c.user_id == _USER).scalar_subquery(),
    sa.select(sa.func.max(product_changes.c.seq)).scalar_subquery())
_CARDS_PAYLOAD = sa.select(card_cache.c.stamp, card_cache.c.payload).where(card_cache.c.user_id == _USER,
                                                                           card_cache.c.n == _N)


def cards_stamp(connection, user_id: str) -> str:
    """Names the shopper's latest event and the latest product change: cards built from both are current."""
    user, catalogue = connection.execute(_CARDS_STAMP, {"user_id": user_id}).one()
    return f"{CARDS_FORMAT}:{user or 0}:{catalogue or 0}"


def cached_cards(connection, user_id: str, n: int, stamp: str) -> dict | None:
    """The stored ranking if it was built for exactly `stamp` (see cards_stamp), else None."""
    row = connection.execute(_CARDS_PAYLOAD, {"user_id": user_id, "n": n}).first()
    return row.payload if row is not None and row.stamp == stamp else None


def store_cards(connection, user_id: str, n: int, stamp: str, payload: dict) -> None:
    upsert(connection, card_cache, {"user_id": user_id, "n": n, "stamp": stamp, "payload": payload}, ["user_id", "n"])


# ---- shared model state ----------------------------------------------------------------------

def save_array(connection, name: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    upsert(connection, model_state, {"name": name, "blob": buffer.getvalue()}, ["name"])


def load_array(connection, name: str) -> np.ndarray | None:
    blob = connection.execute(sa.select(model_state.c.blob).where(model_state.c.name == name)).scalar()
    return None if blob is None else np.load(io.BytesIO(blob), allow_pickle=False)
