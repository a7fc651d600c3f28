"""Product changes through the API: re-embed, store with the change logged, update this worker's
index in place, make the product's variants stale and queue their regeneration."""
from __future__ import annotations


from features.catalogue import embedding_text, product_content_hash
from features.ids import product_key
from features.images import open_image
from service import repository
from service.deps import deps
from service.generation import regenerate


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


def delete_product(product_id: int) -> bool:
    with deps().db.begin() as connection:
        deleted = repository.delete_product(connection, product_id)
    if deleted:
        _after_change(product_id, None)
    return deleted


def _after_change(product_id: int, content_hash: str | None) -> None:
    """Stale card images become unreachable; a live product gets new ones for the (segment, policy) pairs that had them."""
    stale = deps().variants.invalidate(product_id)
    if content_hash is not None:
        regenerate(product_id, content_hash, stale)
    live = deps().live
    if live.ready:
        live.get().catch_up()  # this worker's index now; the others on their next cards
