"""Card images in the service: what a card shows, asking for missing ones, and the job that makes one.

Which image a card gets is imagegen.presentation's one policy (`plan_card`): a scene for the shopper's taste
segment, else the product's own photo at card size. Cards never wait: a missing image is counted as demand;
once a (product, segment, policy) is in demand (VARIANT_MIN_DEMAND recent cards) a durable job is queued,
once per product content, most-shown first, and the card shows the product's own photo meanwhile.
"""
from __future__ import annotations

from flask import current_app, url_for

from features.images import open_image
from imagegen.presentation import ALL_SEGMENTS, SCENE, UPSCALED, CardPlan, PresentationPolicy, plan_card
from service import repository
from service.deps import deps
from service.presentation_rules import rules_snapshot, variants_allowed
from service.scene_rounds import condition_of
from service.variants import GenerationRequest, VariantRecord

GENERATE_VARIANT = "generate_variant"
CONTROL = CardPlan(UPSCALED, ALL_SEGMENTS)  # the product's own photo at card size


def card_image(card: dict, rank: int, n: int, segment: int | None, policy: PresentationPolicy = SCENE) -> dict:
    """The image fields of one ranked card: the ready image its plan asks for, else the product's own photo at
    card size when that is ready, else the photo as uploaded; what is missing is asked for."""
    plan = plan_card(card["has_photo"], scenes_allowed(card), segment, policy)
    if plan.policy.kind == "original":
        return original_image(card)
    store = deps().variants
    for choice in dict.fromkeys([plan, CONTROL]):  # the planned image, then the photo at card size
        record = store.lookup(card["key"], card["content_hash"], choice.segment, choice.policy)
        if record is not None:
            return {"image_url": url_for("variants.image", variant_id=record.variant_id), "variant": describe(record)}
        # one photo at card size serves every shopper and takes a fraction of a second: made at once
        request_variant(card["key"], card["content_hash"], choice.segment, choice.policy, priority=n - rank,
                        wanted=not choice.policy.per_segment)
    return original_image(card)


def scenes_allowed(card: dict) -> bool:
    """Whether the merchant lets this product be shown over a generated backdrop (per product or category)."""
    return variants_allowed(rules_snapshot(), card["key"], card["product"]["attributes"])


def original_image(card: dict) -> dict:
    """The image fields of a card that shows the product's own photo."""
    return {"image_url": card["original_url"], "variant": None}


def describe(record: VariantRecord) -> dict:
    provenance = record.provenance
    return {"id": record.variant_id, "ai_generated": bool(provenance.get("ai_generated", True)),
            "label": provenance.get("label"), "segment": record.segment, "provenance": provenance,
            "provenance_url": url_for("variants.provenance", variant_id=record.variant_id)}


def variant_key(product_id: int, content_hash: str, segment: str, policy: PresentationPolicy) -> str:
    return f"variant:{product_id}:{content_hash}:{segment}:{policy.digest()}"


def request_variant(product_id: int, content_hash: str, segment: str, policy: PresentationPolicy,
                    priority: int = 0, wanted: bool = False) -> None:
    """Queue generation once the image is in demand (`wanted`: at once); this process remembers what it
    asked for, so cards pay no write."""
    key = variant_key(product_id, content_hash, segment, policy)
    dependencies = deps()
    if key in dependencies.asked or not getattr(dependencies.variants, "generates", True):
        return
    demand = (product_id, f"{segment}:{policy.digest()}")
    if not (wanted or demand_queue().request(*demand, at=dependencies.clock.time())):
        return
    demand_queue().forget(*demand)
    dependencies.jobs.enqueue(GENERATE_VARIANT, key, {"product_id": product_id, "content_hash": content_hash,
                                                      "segment": segment, "policy": policy.to_dict()}, priority)
    dependencies.asked.add(key)


def regenerate(product_id: int, content_hash: str, made: list[tuple[str, PresentationPolicy]]) -> None:
    """After a product change: its old images are gone; queue new ones for the (segment, policy) pairs that had them."""
    for segment, policy in made:
        request_variant(product_id, content_hash, segment, policy, priority=1_000, wanted=True)


def demand_queue():
    """This process's demand per (product, segment and policy): an image is worth a generation once shoppers
    keep asking for it (imagegen.variants.queue). Each worker process counts the cards it served."""
    dependencies = deps()
    if dependencies.demand is None:
        from imagegen.variants.queue import DemandQueue
        config = {"min_demand": current_app.config["VARIANT_MIN_DEMAND"],
                  "half_life_days": current_app.config["VARIANT_DEMAND_HALF_LIFE_DAYS"]}
        with dependencies.lock:
            if dependencies.demand is None:
                dependencies.demand = DemandQueue(**{key: value for key, value in config.items() if value})
    return dependencies.demand


def generate_variant(payload: dict) -> None:
    """Job handler. A product changed since the job was queued is skipped (a newer job covers it); so is a
    segment or round that no longer exists (segments were refitted)."""
    with deps().db.connect() as connection:
        product = repository.get_product(connection, payload["product_id"], with_image=True)
    if product is None or product["content_hash"] != payload["content_hash"] or product["image"] is None:
        return
    policy = PresentationPolicy.from_dict(payload["policy"], "job payload.policy")
    if policy.per_segment and not variants_allowed(rules_snapshot(), product["product_id"], product["attributes"]):
        return  # switched off by the merchant since the job was queued
    segment, condition, lineage = str(payload["segment"]), None, None
    if policy.per_segment:
        condition, lineage = condition_of(int(segment), policy.round)
        if condition is None:
            return
    request = GenerationRequest(product["product_id"], product["content_hash"], segment, policy,
                                open_image(product["image"]), condition, lineage, product["sku"])
    deps().variants.generate(request)
