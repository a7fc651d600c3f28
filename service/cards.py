"""The cards use case: a shopper's personalized cards, as the cards endpoint serves them.

    personalized_cards("u42", 12)   # {"user_id", "segment", "experiment", "cards": [...]}

The ranking is cached per (events of this user, catalogue version): this worker's memory, else the database's
card cache, else ranked now (and stored in both). Images are not cached: a variant that became ready since shows
up at once (service.generation.card_image). A running experiment on the cards slot assigns the shopper an arm,
whose policy picks the images and marks the cards; the assignment is stored in one transaction with the
exposures of the cards served in it. A card whose product lists the colours it comes in carries them, each with
its preview URL (service.colour_previews); its image stays the product's own.
"""
from __future__ import annotations

from flask import url_for

from service import repository
from service.colour_previews import card_colours
from service.deps import deps
from service.experiments_store import arm_cards, arm_policy
from service.generation import card_image


def personalized_cards(user_id: str, n: int) -> dict:
    """The top `n` cards of a (checked) shopper id, with their images, arm marks and logged exposures."""
    ranking = ranking_of(user_id, n)
    experiments = deps().experiments
    assigned = experiments.assign(user_id, ranking["segment"])
    policy = arm_policy(assigned)
    cards = [{"rank": rank, "product": card["product"], "score": card["score"], "explanation": card["explanation"],
              **card_image(card, rank, n, ranking["segment"], policy), **card_colours(card)}
             for rank, card in enumerate(ranking["cards"], start=1)]
    cards = arm_cards(cards, assigned)
    if assigned:  # the assignment is stored here, in one transaction with what was served in it
        experiments.log_exposures(user_id, assigned, cards)
    return {"user_id": user_id, "segment": ranking["segment"], "experiment": assigned, "cards": cards}


def ranking_of(user_id: str, n: int) -> dict:
    """From this worker's memory, else the database's card cache, else ranked now (and stored in both)."""
    dependencies = deps()
    engine, memory = dependencies.db, dependencies.rankings
    with engine.connect() as connection:
        stamp = repository.cards_stamp(connection, user_id)
        cached = memory.get(user_id, n, stamp) or repository.cached_cards(connection, user_id, n, stamp)
    dependencies.metrics.card_cache.labels("hit" if cached else "miss").inc()
    if cached:
        memory.put(user_id, n, stamp, cached)
        return cached
    ranking = dependencies.live.get().rank(user_id, n)
    for card in ranking["cards"]:  # built once here, not on every hit; a text-only product has no photo
        card["original_url"] = (url_for("items.image", item_id=card["product"]["id"], size="card")
                                if card["has_photo"] else None)  # never below card size, even before a copy is made
    with engine.begin() as connection:
        repository.store_cards(connection, user_id, n, stamp, ranking)
    memory.put(user_id, n, stamp, ranking)
    return ranking
