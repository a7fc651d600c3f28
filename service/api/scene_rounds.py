"""Rounds of scenes per taste segment: an analyst (or the loop) names the scenes that won, and the segment's next
round is painted for a condition steered toward them (service.scene_rounds).

    GET  /v1/segments/<segment>/rounds     {"segment", "rounds": [{round, parent_round, winners, step, ...}]}
    POST /v1/segments/<segment>/rounds     {"winners": [variant ids of one round], "step": 0.5,
                                            "losers": [the round's other scenes, optional]} -> 201 the round

An experiment arm shows a round with the presentation {"kind": "scene", "round": n}; with "round_style": j it
paints the round's j-th style (the winners' style first, then the styles nearest what won). Analyst key (scope
`experiments`).
"""
from __future__ import annotations

import math

from flask import Blueprint, jsonify

from service import scene_rounds
from service.api.params import bad_request, json_body
from service.auth import require_scope
from service.openapi import _op, _path
from service.variants import VARIANT_ID_PATTERN

bp = Blueprint("scene_rounds", __name__, url_prefix="/v1/segments")
MAX_SEGMENT, MAX_WINNERS = 10_000, 100
SEGMENT = _path("segment", {"type": "integer", "minimum": 0, "maximum": MAX_SEGMENT})
ROUND = {"type": "object", "required": ["round"], "properties": {
    "round": {"type": "integer", "minimum": 0}, "parent_round": {"type": "integer"},
    "winners": {"type": "array", "items": {"type": "string"}}, "step": {"type": "number"},
    "losers": {"type": "array", "items": {"type": "string"}},
    "styles": {"type": "array", "items": {"type": "integer"},
               "description": "the round's scene styles in the order round_style counts them: the winners' first"}}}
OPENAPI_PATHS = {"/v1/segments/{segment}/rounds": {
    "get": _op("A taste segment's rounds of scenes and their lineage", "experiments", "200",
               {"type": "object", "required": ["segment", "rounds"], "properties": {
                   "segment": {"type": "integer"}, "rounds": {"type": "array", "items": ROUND}}}, [SEGMENT]),
    "post": _op("Start the segment's next round, steered toward the winning scenes of one round", "experiments",
                "201", ROUND, [SEGMENT], {"application/json": {"schema": {
                    "type": "object", "required": ["winners"], "additionalProperties": False, "properties": {
                        "winners": {"type": "array", "minItems": 1, "maxItems": MAX_WINNERS,
                                    "items": {"type": "string", "pattern": VARIANT_ID_PATTERN.pattern}},
                        "step": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                        "losers": {"type": "array", "maxItems": MAX_WINNERS, "default": [],
                                   "items": {"type": "string", "pattern": VARIANT_ID_PATTERN.pattern},
                                   "description": "the round's other scenes: what every scene added alike "
                                                  "is taken out of the direction the winners set"}}}}},
                errors=(400, 404, 415)),
}}


@bp.get("/<segment>/rounds")
@require_scope("experiments")
def list_rounds(segment: str):
    number = _segment(segment)
    return jsonify(segment=number, rounds=scene_rounds.rounds_of(number))


@bp.post("/<segment>/rounds")
@require_scope("experiments")
def start_round(segment: str):
    number, body = _segment(segment), json_body()
    if not isinstance(body, dict) or not set(body) <= {"winners", "step", "losers"} or "winners" not in body:
        raise bad_request("body", body, 'a JSON object {"winners": [variant ids], "step": 0.5, "losers": [...]}')
    winners, step, losers = body["winners"], body.get("step", 0.5), body.get("losers", [])
    for name, ids, least in (("winners", winners, 1), ("losers", losers, 0)):
        if not isinstance(ids, list) or not least <= len(ids) <= MAX_WINNERS or not all(
                isinstance(i, str) and VARIANT_ID_PATTERN.match(i) for i in ids):
            raise bad_request(name, ids, f"a list of {least} to {MAX_WINNERS} variant ids")
    if set(winners) & set(losers):
        raise bad_request("losers", losers, "variant ids that are not among the winners")
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step) or not 0 <= step <= 1:
        raise bad_request("step", step, "a number in [0, 1]")
    return jsonify(scene_rounds.start_round(number, winners, float(step), losers)), 201


def _segment(raw: str) -> int:
    if not raw.isdigit() or int(raw) > MAX_SEGMENT:
        raise bad_request("segment", raw, f"an integer in 0..{MAX_SEGMENT}")
    return int(raw)
