"""The product use cases of the API (service.api.items, service.api.catalogue), by the store's product id:

    product(sku)                      # the live product's row; NotFound when there is none
    product_photo(sku, etags)         # its row with the photo, None when the client's copy (ETag) is current
    save_product(sku, title, ...)     # create or replace
    patch_product(sku, patched)       # read, change (patched(row) -> save_product's fields), save
    delete_product(sku)               # soft-delete; NotFound when there was no live product
    sync_batch(rows, deletes, dry_run)  # upsert catalogue rows and delete keys -> ids (service.catalogue_sync)

A change re-embeds what the encoder reads, stores the product with the change logged, updates this worker's index
in place, makes the product's variants stale and queues their regeneration.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Container
from pathlib import Path

from flask import current_app

from features.catalogue import Catalogue, check_catalogue, embedding_text, product_content_hash
from features.errors import CatalogueError
from features.ids import echo, product_key
from features.image_sources import ImageFetcher
from features.images import open_image
from imagegen.upscale import plain_card_png
from service import repository
from service.catalogue_sync import sync_catalogue
from service.deps import deps
from service.errors import NotFound
from service.generation import regenerate
from service.image_cache import cached_image

PLAIN_CARD_CACHE_SIZE = 128  # card-size PNGs of small photos, ~50-200 KB each


def product(sku: str, with_image: bool = False) -> dict:
    """The live product of a (checked) id, its photo and vector too when `with_image`."""
    with deps().db.connect() as connection:
        row = repository.get_product(connection, product_key(sku), with_image=with_image)
    if row is None:
        raise NotFound(f"no product {echo(sku)}")
    return row


def product_photo(sku: str, etags: Container[str] = (), at_card_size: bool = False) -> dict | None:
    """{"image": bytes, "etag"} of the product's photo; None when `etags` (the client's) hold its ETag: then the
    photo is not read. `at_card_size`: enlarged plainly (bicubic, no model) when it is under card size, which
    is what a card shows until the photo's card-size copy is made. NotFound for a text-only product too."""
    if etags and photo_etag(_photographed(sku)["content_hash"], at_card_size) in etags:
        return None
    row = _photographed(sku, with_image=True)  # the ETag comes from the same row as the photo
    image = _card_copy(row) if at_card_size else row["image"]
    return {"image": image, "etag": photo_etag(row["content_hash"], at_card_size)}


def _card_copy(row: dict) -> bytes:
    """The photo enlarged plainly to card size (the upload itself when it is large enough), kept in memory: every
    card shows it until the photo's card-size copy is made, and a PNG encode costs more than the request."""
    return cached_image("plain_card", row["content_hash"],
                        lambda: plain_card_png(open_image(row["image"])) or row["image"], PLAIN_CARD_CACHE_SIZE)


def photo_etag(content_hash: str, at_card_size: bool) -> str:
    return f"{content_hash}-card" if at_card_size else content_hash


def _photographed(sku: str, with_image: bool = False) -> dict:
    row = product(sku, with_image)
    if not row["has_photo"]:
        raise NotFound(f"product {echo(sku)} has no photo (a text-only product)")
    return row


def save_product(sku: str, title: str, description: str, attributes: dict, image_bytes: bytes | None,
                 in_stock: bool) -> dict:
    """Create or replace the product `sku` (a checked id). A photo is checked by content before anything is
    stored and embedded through the image tower; without one the product is text-only, embedded from its
    title and description through the text tower (the same space)."""
    encoder = deps().encoder.get()
    if image_bytes:
        vector = encoder.encode_images([open_image(image_bytes)])[0]  # sniffing, pixel limit, bomb guard
    else:
        vector = encoder.encode_texts([embedding_text(title, description)])[0]
    text = {"title": title, **({"description": description} if description else {})}
    row = {"product_id": product_key(sku), "sku": sku, "title": title, "description": description or None,
           "attributes": attributes, "in_stock": in_stock, "image": image_bytes or b"",
           "content_hash": product_content_hash(image_bytes or b"", {**text, **attributes}),
           "vector": repository.vector_bytes(vector), "space_id": encoder.space_id}
    with deps().db.begin() as connection:
        repository.save_product(connection, row)
    _after_change(row["product_id"], row["content_hash"] if image_bytes else None)
    return {"id": sku, "title": title, "description": description, "attributes": attributes, "in_stock": in_stock,
            "has_photo": bool(image_bytes), "content_hash": row["content_hash"]}


def patch_product(sku: str, patched: Callable[[dict], dict]) -> dict:
    """Replace the live product `sku` by `patched(its row, photo included)`: save_product's fields but the id.
    The caller's checks of the change run after the product is found (a missing one is NotFound first)."""
    current = product(sku, with_image=True)
    return save_product(current["sku"], **patched(current))


def delete_product(sku: str) -> None:
    key = product_key(sku)
    with deps().db.begin() as connection:
        if not repository.delete_product(connection, key):
            raise NotFound(f"no product {echo(sku)}")
    _after_change(key, None)


def sync_batch(rows: list[dict], deletes: dict[int, str], dry_run: bool) -> dict:
    """Upsert catalogue rows (checked as a catalogue file is; photos are fetched) and delete the stored products
    among `deletes` (key -> the id as given); the plan's summary (with the ids to delete that matched no live
    product, `not_found`), with "embedded" unless a dry run (which writes nothing)."""
    catalogue = _catalogue(rows) if rows else None
    encoder = None if dry_run else deps().encoder.get()
    summary = sync_catalogue(deps().db, catalogue, encoder, dry_run, deletes=deletes)
    if not dry_run:
        _catch_up()
    return summary


def _catalogue(rows: list[dict]) -> Catalogue:
    """The rows checked exactly as a catalogue file is (features.catalogue), from a JSON-lines file of them."""
    images = ImageFetcher(Path(current_app.instance_path) / "image-cache")  # fetched once, kept for the rows
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "catalogue.jsonl"
        file.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
        check = check_catalogue(file, images=images)
    if check.problems:
        raise CatalogueError(f"{len(check.problems)} problem(s) in the batch", check.problems)
    return check.catalogue()


def _after_change(product_id: int, content_hash: str | None) -> None:
    """Stale card images become unreachable; a live product gets new ones for the (segment, policy) pairs that had them."""
    stale = deps().variants.invalidate(product_id)
    if content_hash is not None:
        regenerate(product_id, content_hash, stale)
    _catch_up()


def _catch_up() -> None:
    live = deps().live
    if live.ready:  # one not built yet reads every change when it is
        live.get().catch_up()  # this worker's index now; the others on their next cards
