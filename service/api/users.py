"""Shoppers: who there is (for the demo page) and each one's personalized cards."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, url_for

from service import repository
from service.api.params import int_arg, user_id as checked_user_id
from service.auth import require_scope
from service.experiments_store import arm_cards, arm_policy
from service.generation import card_image
from service.metrics import current as metrics

bp = Blueprint("users", __name__, url_prefix="/v1/users")


@bp.get("")
@require_scope("cards")
def list_users():
    limit = int_arg("limit", 20, 1, 200)
    with current_app.extensions["tailorcard.db"].connect() as connection:
        return jsonify(users=repository.list_users(connection, limit))


@bp.get("/<user_id>/cards")
@require_scope("cards")
def cards(user_id: str):
    """Ranked cards. The ranking is cached per (events of this user, catalogue version); images are not:
    a variant that became ready since shows up at once."""
    user_id = checked_user_id(user_id)
    n = int_arg("n", 12, 1, current_app.config["MAX_CARDS"])
    ranking = _ranking(user_id, n)
    experiments = current_app.extensions["tailorcard.experiments"]
    assigned = experiments.assign(user_id, ranking["segment"])
    policy = arm_policy(assigned)
    cards = [{"rank": rank, "product": card["product"], "score": card["score"], "explanation": card["explanation"],
              **card_image(card, rank, n, ranking["segment"], policy)}
             for rank, card in enumerate(ranking["cards"], start=1)]
    cards = arm_cards(cards, assigned)
    if assigned:  # the assignment is stored here, in one transaction with what was served in it
        experiments.log_exposures(user_id, assigned, cards)
    return jsonify(user_id=user_id, segment=ranking["segment"], experiment=assigned,
                   cards=cards)


def _ranking(user_id: str, n: int) -> dict:
    """From this worker's memory, else the database's card cache, else ranked now (and stored in both)."""
    engine, memory = current_app.extensions["tailorcard.db"], current_app.extensions["tailorcard.rankings"]
    with engine.connect() as connection:
        stamp = repository.cards_stamp(connection, user_id)
        cached = memory.get(user_id, n, stamp) or repository.cached_cards(connection, user_id, n, stamp)
    metrics().card_cache.labels("hit" if cached else "miss").inc()
    if cached:
        memory.put(user_id, n, stamp, cached)
        return cached
    ranking = current_app.extensions["tailorcard.live"].get().rank(user_id, n)
    for card in ranking["cards"]:  # built once here, not on every hit; a text-only product has no photo
        card["original_url"] = url_for("items.image", item_id=card["product"]["id"]) if card["has_photo"] else None
    with engine.begin() as connection:
        repository.store_cards(connection, user_id, n, stamp, ranking)
    memory.put(user_id, n, stamp, ranking)
    return ranking
