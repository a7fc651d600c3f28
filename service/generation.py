"""Variants in the service: what a card shows, asking for missing ones, and the job that makes one.

Cards never wait: a missing variant is asked for (a durable job, queued once per product
content and segment, most-shown first) and the card shows the original photo meanwhile.
"""
from __future__ import annotations

from flask import current_app, url_for

from features.images import open_image
from service import repository
from service.live import SEGMENTS
from service.variants import GenerationRequest, VariantRecord

GENERATE_VARIANT = "generate_variant"


def card_image(card: dict, segment: int, rank: int, n: int) -> dict:
    """The image fields of one ranked card: the ready variant, else the original photo (and a request)."""
    product_id, content_hash = card["product"]["id"], card["content_hash"]
    record = current_app.extensions["tailorcard.variants"].lookup(product_id, content_hash, segment)
    if record is None:
        request_variant(product_id, content_hash, segment, priority=n - rank)
        return {"image_url": card["original_url"], "variant": None}
    return {"image_url": url_for("variants.image", variant_id=record.variant_id), "variant": describe(record)}


def describe(record: VariantRecord) -> dict:
    return {"id": record.variant_id, "ai_generated": bool(record.provenance.get("ai_generated", True)),
            "segment": record.segment, "provenance": record.provenance,
            "provenance_url": url_for("variants.provenance", variant_id=record.variant_id)}


def variant_key(product_id: int, content_hash: str, segment: int) -> str:
    return f"variant:{product_id}:{content_hash}:{segment}"


def request_variant(product_id: int, content_hash: str, segment: int, priority: int = 0) -> None:
    """Queue generation once; this process remembers what it asked for, so cards pay no write."""
    key = variant_key(product_id, content_hash, segment)
    asked = current_app.extensions["tailorcard.asked"]
    if key in asked or not getattr(current_app.extensions["tailorcard.variants"], "generates", True):
        return
    current_app.extensions["tailorcard.jobs"].enqueue(
        GENERATE_VARIANT, key, {"product_id": product_id, "content_hash": content_hash, "segment": segment},
        priority)
    asked.add(key)


def regenerate(product_id: int, content_hash: str, segments: list[int]) -> None:
    """After a product change: its old variants are gone; queue new ones for the segments that had them."""
    for segment in segments:
        request_variant(product_id, content_hash, segment, priority=1_000)


def generate_variant(payload: dict) -> None:
    """Job handler. A product changed since the job was queued is skipped: a newer job covers it."""
    with current_app.extensions["tailorcard.db"].connect() as connection:
        product = repository.get_product(connection, payload["product_id"], with_image=True)
        centroids = repository.load_array(connection, SEGMENTS)
    if product is None or product["content_hash"] != payload["content_hash"]:
        return
    segment = payload["segment"]
    if centroids is None or not 0 <= segment < len(centroids):
        raise ValueError(f"segment {segment} is unknown; {0 if centroids is None else len(centroids)} segments fitted")
    request = GenerationRequest(product["product_id"], product["content_hash"], segment,
                                open_image(product["image"]), centroids[segment], product["title"],
                                product["attributes"])
    current_app.extensions["tailorcard.variants"].generate(request)
