"""Keep a running store's products in step with its catalogue file: add the new, replace the changed
(re-embedded only when what the encoder reads changed), delete those gone. Idempotent: a second run
finds nothing to do. Safe while serving: each batch is one transaction that logs its product changes,
so every web worker picks them up on its next ranking (service.live), as for changes through the API.

    sync_catalogue(engine, catalogue, encoder)                       # the whole file: `tailorcard catalogue sync`
    sync_catalogue(engine, batch, encoder, deletes={key: id}, dry_run=True)  # a batch (service.catalogue_changes)

Both plan first (stored_state, plan_sync), report the plan's summary, then apply it (apply_sync) unless a dry run.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa

from features.catalogue import Catalogue, embedding_text
from features.embedding_store import encode_products
from service import repository
from service.bootstrap import catalogue_rows

BATCH = 500  # products per transaction: workers see a large sync arrive in steps, never wait on one lock


@dataclass
class SyncPlan:
    """What a sync would do, by product key."""
    adds: list[int] = field(default_factory=list)
    changes: list[int] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    unchanged: int = 0

    def summary(self, catalogue: Catalogue | None, stored_skus: dict[int, str]) -> dict:
        """Counts and (up to 20 of each) the store's own ids, for a --dry-run report or an API reply; `catalogue`
        names the added and changed (None when there are none)."""
        def named(keys):
            return [catalogue.product_id(k) if catalogue is not None and k in catalogue.products.index
                    else stored_skus.get(k, str(k)) for k in keys[:20]]
        return {"adds": len(self.adds), "changes": len(self.changes), "deletes": len(self.deletes),
                "unchanged": self.unchanged, "added": named(self.adds), "changed": named(self.changes),
                "deleted": named(self.deletes)}


def sync_catalogue(engine: sa.Engine, catalogue: Catalogue | None, encoder, dry_run: bool = False,
                   deletes: dict[int, str] | None = None, report: Callable[[dict], None] | None = None) -> dict:
    """Plan, `report` the summary (before anything is written: a long sync shows its plan first), then apply it
    unless `dry_run`; the summary gains "embedded" when applied. `deletes` None: the catalogue is the whole
    store (what it lacks is deleted); key -> id: a batch, deleting those of these keys that are stored (the ids of
    the others are the summary's `not_found`)."""
    with engine.connect() as connection:
        stored = stored_state(connection)
    plan = plan_sync(catalogue, stored, delete_missing=deletes is None) if catalogue is not None else SyncPlan()
    if deletes is not None:
        plan.deletes = sorted(set(deletes) & set(stored))
    summary = plan.summary(catalogue, {key: sku for key, (sku, _) in stored.items()})
    if deletes is not None:
        summary["not_found"] = [name for key, name in deletes.items() if key not in stored]
    if report is not None:
        report(summary)
    if not dry_run:
        summary["embedded"] = apply_sync(engine, catalogue, encoder, plan)
    return summary


def stored_state(connection) -> dict[int, tuple[str, str]]:
    """Live products: key -> (sku, content hash)."""
    frame = repository.all_products(connection)
    live = frame[~frame["deleted"].astype(bool)]
    return dict(zip(live["product_id"].astype(int), zip(live["sku"], live["content_hash"])))


def plan_sync(catalogue: Catalogue, stored: dict[int, tuple[str, str]], delete_missing: bool = True) -> SyncPlan:
    plan = SyncPlan()
    for key in catalogue.ids:
        if key not in stored:
            plan.adds.append(key)
        elif stored[key] != (catalogue.product_id(key), catalogue.content_hash(key)):
            plan.changes.append(key)
        else:
            plan.unchanged += 1
    if delete_missing:
        plan.deletes = sorted(set(stored) - set(catalogue.ids))
    return plan


def apply_sync(engine: sa.Engine, catalogue: Catalogue, encoder, plan: SyncPlan) -> int:
    """Write the plan in batches; returns how many products were embedded. A changed product whose photo (or,
    text-only, whose title and description) is what it was keeps its vector: only what the encoder reads
    costs an encoding."""
    upserts, embedded = plan.adds + plan.changes, 0
    for start in range(0, len(upserts), BATCH):
        keys = upserts[start:start + BATCH]
        with engine.begin() as connection:
            kept = _unchanged_vectors(connection, catalogue, keys)
            fresh = [key for key in keys if key not in kept]
            encoded = dict(zip(fresh, encode_products(catalogue, fresh, encoder))) if fresh else {}
            for row in catalogue_rows(catalogue, keys, [kept.get(k, encoded.get(k)) for k in keys], encoder.space_id):
                repository.save_product(connection, row)
        embedded += len(fresh)
    for start in range(0, len(plan.deletes), BATCH):
        with engine.begin() as connection:
            for key in plan.deletes[start:start + BATCH]:
                repository.delete_product(connection, key)
    return embedded


def _unchanged_vectors(connection, catalogue: Catalogue, keys: list[int]) -> dict[int, np.ndarray]:
    """The stored vectors of those products whose embedded input (photo bytes, or text) has not changed."""
    kept = {}
    for key in keys:
        stored = repository.get_product(connection, key, with_image=True)
        if stored is not None and _embedded_input(stored["image"], stored["title"], stored["description"] or "") \
                == _catalogue_input(catalogue, key):
            kept[key] = repository.vector_from(stored["vector"])
    return kept


def _catalogue_input(catalogue: Catalogue, key: int) -> tuple[bytes, str]:
    return (catalogue.image_bytes(key), "") if catalogue.has_image(key) else (b"", catalogue.embedding_text(key))


def _embedded_input(image: bytes, title: str, description: str) -> tuple[bytes, str]:
    return (image, "") if image else (b"", embedding_text(title, description))
