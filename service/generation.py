"""Variants in the service: what a card shows, asking for missing ones, and the job that makes one.

Variants are made per (product, colour segment): a card's segment is the colour its shopper's
behaviour leans to (LiveModel.rank's `variant_segment`; None when the card wants no variant).
Cards never wait: a missing variant is counted as demand; once a (product, segment) is in demand
(VARIANT_MIN_DEMAND recent cards) a durable job is queued, once per product content and segment,
most-shown first, and cards show the original photo meanwhile.
"""
from __future__ import annotations

import time

from flask import current_app, url_for

from features.images import open_image
from service import repository
from service.variants import GenerationRequest, VariantRecord

GENERATE_VARIANT = "generate_variant"


def card_image(card: dict, rank: int, n: int) -> dict:
    """The image fields of one ranked card: the ready variant, else the original photo (and a request)."""
    product_id, content_hash, segment = card["key"], card["content_hash"], card["variant_segment"]
    if segment is None:
        return original_image(card)
    record = current_app.extensions["tailorcard.variants"].lookup(product_id, content_hash, segment)
    if record is None:
        request_variant(product_id, content_hash, segment, priority=n - rank)
        return original_image(card)
    return {"image_url": url_for("variants.image", variant_id=record.variant_id), "variant": describe(record)}


def original_image(card: dict) -> dict:
    """The image fields of a card that shows the product's own photo."""
    return {"image_url": card["original_url"], "variant": None}


def describe(record: VariantRecord) -> dict:
    return {"id": record.variant_id, "ai_generated": bool(record.provenance.get("ai_generated", True)),
            "segment": record.segment, "provenance": record.provenance,
            "provenance_url": url_for("variants.provenance", variant_id=record.variant_id)}


def variant_key(product_id: int, content_hash: str, segment: str) -> str:
    return f"variant:{product_id}:{content_hash}:{segment}"


def request_variant(product_id: int, content_hash: str, segment: str, priority: int = 0,
                    wanted: bool = False) -> None:
    """Queue generation once the pair is in demand (`wanted`: at once); this process remembers what it
    asked for, so cards pay no write."""
    key = variant_key(product_id, content_hash, segment)
    asked = current_app.extensions["tailorcard.asked"]
    if key in asked or not getattr(current_app.extensions["tailorcard.variants"], "generates", True):
        return
    if not (wanted or demand_queue().request(product_id, segment, at=time.time())):
        return
    demand_queue().forget(product_id, segment)
    current_app.extensions["tailorcard.jobs"].enqueue(
        GENERATE_VARIANT, key, {"product_id": product_id, "content_hash": content_hash, "segment": segment},
        priority)
    asked.add(key)


def regenerate(product_id: int, content_hash: str, segments: list[str]) -> None:
    """After a product change: its old variants are gone; queue new ones for the segments that had them."""
    for segment in segments:
        request_variant(product_id, content_hash, segment, priority=1_000, wanted=True)


def demand_queue():
    """This process's demand per (product, segment): a variant is worth a generation once shoppers keep
    asking for it (imagegen.variants.queue). Each worker process counts the cards it served."""
    extensions = current_app.extensions
    if "tailorcard.demand" not in extensions:
        from imagegen.variants.queue import DemandQueue  # imagegen loads torch: only where variants are made
        config = {"min_demand": current_app.config["VARIANT_MIN_DEMAND"],
                  "half_life_days": current_app.config["VARIANT_DEMAND_HALF_LIFE_DAYS"]}
        extensions["tailorcard.demand"] = DemandQueue(**{key: value for key, value in config.items() if value})
    return extensions["tailorcard.demand"]


def generate_variant(payload: dict) -> None:
    """Job handler. A product changed since the job was queued is skipped: a newer job covers it; so is
    a colour the product's type no longer comes in (nothing to draw it toward)."""
    with current_app.extensions["tailorcard.db"].connect() as connection:
        product = repository.get_product(connection, payload["product_id"], with_image=True)
    if product is None or product["content_hash"] != payload["content_hash"]:
        return
    segment = str(payload["segment"])
    live = current_app.extensions["tailorcard.live"].get()
    taste = live.colour_taste(product["product_id"], segment)
    if taste is None:
        return
    examples = live.colour_examples(segment)
    with current_app.extensions["tailorcard.db"].connect() as connection:
        photos = repository.product_images(connection, examples)
    request = GenerationRequest(product["product_id"], product["content_hash"], segment,
                                open_image(product["image"]), taste, product["title"], product["attributes"],
                                [open_image(image) for image in photos], tuple(examples))
    current_app.extensions["tailorcard.variants"].generate(request)
