"""Shoppers: who there is (for the demo page: service.shoppers) and each one's personalized cards (service.cards)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from service.api.params import int_arg, user_id as checked_user_id
from service.auth import require_scope
from service.cards import personalized_cards
from service.shoppers import list_shoppers

bp = Blueprint("users", __name__, url_prefix="/v1/users")


@bp.get("")
@require_scope("cards")
def list_users():
    return jsonify(users=list_shoppers(int_arg("limit", 20, 1, 200)))


@bp.get("/<user_id>/cards")
@require_scope("cards")
def cards(user_id: str):
    """Ranked cards (service.cards): cached rankings, images as ready now, experiment arms, logged exposures."""
    user_id = checked_user_id(user_id)
    n = int_arg("n", 12, 1, current_app.config["MAX_CARDS"])
    return jsonify(personalized_cards(user_id, n))
