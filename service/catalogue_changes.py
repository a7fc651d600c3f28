"""Product changes through the API: re-embed, store with the change logged, update this worker's
index in place, make the product's variants stale and queue their regeneration."""
from __future__ import annotations

from flask import current_app

from features.catalogue import product_content_hash
from features.images import open_image
from service import repository
from service.generation import regenerate


def save_product(product_id: int, title: str, attributes: dict, image_bytes: bytes, in_stock: bool) -> dict:
    """Create or replace a product. The image is checked by content before anything is stored."""
    image = open_image(image_bytes)  # type sniffing, pixel limit, decompression-bomb guard
    encoder = current_app.extensions["tailorcard.encoder"].get()
    vector = encoder.encode_images([image])[0]
    content_hash = product_content_hash(image_bytes, {"title": title, **attributes})
    row = {"product_id": product_id, "title": title, "attributes": attributes, "in_stock": in_stock,
           "image": image_bytes, "content_hash": content_hash, "vector": repository.vector_bytes(vector),
           "space_id": encoder.space_id}
    with current_app.extensions["tailorcard.db"].begin() as connection:
        repository.save_product(connection, row)
    _after_change(product_id, content_hash)
    return {"id": product_id, "title": title, "attributes": attributes, "in_stock": in_stock,
            "content_hash": content_hash}


def delete_product(product_id: int) -> bool:
    with current_app.extensions["tailorcard.db"].begin() as connection:
        deleted = repository.delete_product(connection, product_id)
    if deleted:
        _after_change(product_id, None)
    return deleted


def _after_change(product_id: int, content_hash: str | None) -> None:
    """Stale variants become unreachable; a live product gets new ones for the segments that had them."""
    stale_segments = current_app.extensions["tailorcard.variants"].invalidate(product_id)
    if content_hash is not None:
        regenerate(product_id, content_hash, stale_segments)
    live = current_app.extensions["tailorcard.live"]
    if live.ready:
        live.get().catch_up()  # this worker's index now; the others on their next cards
