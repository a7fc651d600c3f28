"""Rounds of scenes per taste segment: an analyst (or the loop) names the scenes that won, and the segment's next
round is painted for a condition steered toward them, or hands in every scene arm with its click rate, and the
next round paints what the fit to them says shoppers reward (service.scene_rounds).

    GET  /v1/segments/<segment>/rounds     {"segment", "rounds": [{round, parent_round, winners, step, ...}]}
    POST /v1/segments/<segment>/rounds     {"winners": [variant ids of one round], "step": 0.5,
                                            "losers": [the round's other scenes, optional]} -> 201 the round
    POST /v1/segments/<segment>/rounds     {"arms": [{"scenes": [variant ids], "ctr": 0.061, "exposures": 5000},
                                            ...every scene arm of one round], "control_ctr": 0.05} -> 201 the round
                                           fitted to what each arm earned (aim "added")
    POST /v1/segments/<segment>/rounds     {"experiment": "<name>"} -> 201 the same, with the click rates, exposures
                                           and images of that experiment's arms in this segment
    Either fitted body may add "fit", how the arms' gains over the control are weighed: "intervals" (each by its
    95 % interval, the control's error in every gain: gains within their noise move the fit little; the default
    wherever every interval is known: an experiment's results have them, with your own numbers give each arm's
    "ctr_ci": [low, high] and a "control_ci"), "exposures" (the default without them), or "between-arms" (only how
    the arms differ speaks; two arms at least).

An experiment arm shows a round with the presentation {"kind": "scene", "round": n}; with "round_style": j it
paints the round's j-th style (the winners' style first, then the styles nearest what won). Analyst key (scope
`experiments`). Refusals besides a bad body: 409 "round_exists" (the segment has that round: steer from it), 409
"nothing_to_fit" (the experiment has not shown its control or any scene arm's images in the segment yet), 400
"too_few_arms" (between-arms with one arm), 404 for an unknown variant or experiment.
"""
from __future__ import annotations

import math

from flask import Blueprint, jsonify

from imagegen.presentation.steering import FITS
from recsys.experiments import ExperimentError
from service import scene_rounds
from service.api.experiments import experiment_error
from service.api.params import bad_request, json_body
from service.auth import require_scope
from service.openapi import _op, _path
from service.variants import VARIANT_ID_PATTERN

bp = Blueprint("scene_rounds", __name__, url_prefix="/v1/segments")
bp.register_error_handler(ExperimentError, experiment_error)  # an unknown or unstarted experiment, as its own API says
MAX_SEGMENT, MAX_WINNERS, MAX_ARMS = 10_000, scene_rounds.MAX_SCENES, 16
SEGMENT = _path("segment", {"type": "integer", "minimum": 0, "maximum": MAX_SEGMENT})
ROUND = {"type": "object", "required": ["round"], "properties": {
    "round": {"type": "integer", "minimum": 0}, "parent_round": {"type": "integer"},
    "winners": {"type": "array", "items": {"type": "string"}}, "step": {"type": "number"},
    "losers": {"type": "array", "items": {"type": "string"}},
    "styles": {"type": "array", "items": {"type": "integer"},
               "description": "the round's scene styles in the order round_style counts them: the winners' first "
                              "(fitted: the nearest the fitted direction first)"},
    "aim": {"type": "string", "enum": ["added"], "description": "a fitted round paints what its backdrops add"},
    "fit": {"type": "string", "enum": list(FITS)},
    "left_out": {"type": "array", "items": {"type": "object", "properties": {
        "arm": {"type": "string"}, "why": {"type": "string"}}},
        "description": "a round fitted from an experiment: its scene arms that could not speak, and why"},
    "control_ctr": {"type": "number"}, "arms": {"type": "array", "items": {"type": "object"}}}}
SCENES = {"type": "array", "minItems": 1, "maxItems": MAX_WINNERS,
          "items": {"type": "string", "pattern": VARIANT_ID_PATTERN.pattern}}
INTERVAL = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
            "description": "a 95 % interval [low, high] of the click rate (the results page's)"}
FIT = {"type": "string", "enum": list(FITS),
       "description": "how the arms' gains over the control are weighed: by their intervals (the control's error "
                      "in every gain; the default where every interval is known), by exposures (the default "
                      "without them), or only how they differ (between-arms; two arms at least)"}
FITTED = {"type": "object", "required": ["arms", "control_ctr"], "additionalProperties": False, "properties": {
    "arms": {"type": "array", "minItems": 1, "maxItems": MAX_ARMS, "items": {
        "type": "object", "required": ["scenes", "ctr", "exposures"], "additionalProperties": False, "properties": {
            "scenes": SCENES, "ctr": {"type": "number", "minimum": 0, "maximum": 1},
            "exposures": {"type": "integer", "minimum": 1}, "ctr_ci": INTERVAL}},
        "description": "every scene arm of one round with its click rate in this segment (the results page's)"},
    "control_ctr": {"type": "number", "minimum": 0, "maximum": 1, "description": "the control arm's click rate"},
    "control_ci": INTERVAL, "fit": FIT}}
FROM_EXPERIMENT = {"type": "object", "required": ["experiment"], "additionalProperties": False, "properties": {
    "experiment": {"type": "string", "minLength": 1, "description": "fit to this experiment's arms in the segment: "
                   "its first arm is the control, its scene arms' click rates, exposures and images speak"},
    "fit": FIT}}
OPENAPI_PATHS = {"/v1/segments/{segment}/rounds": {
    "get": _op("A taste segment's rounds of scenes and their lineage", "experiments", "200",
               {"type": "object", "required": ["segment", "rounds"], "properties": {
                   "segment": {"type": "integer"}, "rounds": {"type": "array", "items": ROUND}}}, [SEGMENT]),
    "post": _op("Start the segment's next round, steered toward the winning scenes of one round, or fitted to "
                "every scene arm's click rate", "experiments",
                "201", ROUND, [SEGMENT], {"application/json": {"schema": {"oneOf": [{
                    "type": "object", "required": ["winners"], "additionalProperties": False, "properties": {
                        "winners": SCENES,
                        "step": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                        "losers": {"type": "array", "maxItems": MAX_WINNERS, "default": [],
                                   "items": {"type": "string", "pattern": VARIANT_ID_PATTERN.pattern},
                                   "description": "the round's other scenes: what every scene added alike "
                                                  "is taken out of the direction the winners set"}}},
                    FITTED, FROM_EXPERIMENT]}}},
                errors=(400, 404, 409, 415)),
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
    if isinstance(body, dict) and "experiment" in body:
        if not set(body) <= {"experiment", "fit"} or not isinstance(body["experiment"], str) \
                or not body["experiment"]:
            raise bad_request("body", body, 'a JSON object {"experiment": "<name>", "fit": "intervals"} and '
                                            'nothing else')
        return jsonify(scene_rounds.fit_round_from_experiment(number, body["experiment"], body.get("fit"))), 201
    if isinstance(body, dict) and "arms" in body:
        arms, control = _fitted_body(body)
        return jsonify(scene_rounds.fit_round(number, arms, control, fit=body.get("fit"))), 201
    if not isinstance(body, dict) or not set(body) <= {"winners", "step", "losers"} or "winners" not in body:
        raise bad_request("body", body, 'a JSON object {"winners": [variant ids], "step": 0.5, "losers": [...]} '
                                        'or {"arms": [{"scenes": [variant ids], "ctr": 0.06, "exposures": 100}], '
                                        '"control_ctr": 0.05}')
    winners, step, losers = body["winners"], body.get("step", 0.5), body.get("losers", [])
    for name, ids, least in (("winners", winners, 1), ("losers", losers, 0)):
        _check_ids(name, ids, least)
    if set(winners) & set(losers):
        raise bad_request("losers", losers, "variant ids that are not among the winners")
    if not _number_in(step, 0, 1):
        raise bad_request("step", step, "a number in [0, 1]")
    return jsonify(scene_rounds.start_round(number, winners, float(step), losers)), 201


def _fitted_body(body: dict) -> tuple[list[dict], dict]:
    """The arms and the control ({"ctr", "ctr_ci" when given}) of a fitted round's body, checked."""
    if not set(body) <= {"arms", "control_ctr", "control_ci", "fit"} or "control_ctr" not in body:
        raise bad_request("body", sorted(body), 'a JSON object {"arms": [...], "control_ctr": 0.05, "control_ci": '
                                                '[0.04, 0.06], "fit": "exposures"} and nothing else')
    arms, control_ctr = body["arms"], body["control_ctr"]
    if not isinstance(arms, list) or not 1 <= len(arms) <= MAX_ARMS:
        raise bad_request("arms", arms, f"a list of 1 to {MAX_ARMS} scene arms")
    for i, arm in enumerate(arms):
        if not isinstance(arm, dict) or not {"scenes", "ctr", "exposures"} <= set(arm) <= {
                "scenes", "ctr", "exposures", "ctr_ci"}:
            raise bad_request(f"arms[{i}]", arm, 'an object {"scenes": [variant ids], "ctr": 0.06, "exposures": 100, '
                                                 '"ctr_ci": [0.05, 0.07] (optional)}')
        if "ctr_ci" in arm:
            _check_interval(f"arms[{i}].ctr_ci", arm["ctr_ci"])
        _check_ids(f"arms[{i}].scenes", arm["scenes"], 1)
        if not _number_in(arm["ctr"], 0, 1):
            raise bad_request(f"arms[{i}].ctr", arm["ctr"], "a click rate in [0, 1]")
        if isinstance(arm["exposures"], bool) or not isinstance(arm["exposures"], int) or arm["exposures"] < 1:
            raise bad_request(f"arms[{i}].exposures", arm["exposures"], "an integer >= 1")
    scenes = [variant for arm in arms for variant in arm["scenes"]]
    if len(set(scenes)) != len(scenes):
        raise bad_request("arms", "a variant id named twice", "each scene in one arm only, once")
    if not _number_in(control_ctr, 0, 1):
        raise bad_request("control_ctr", control_ctr, "a click rate in [0, 1]")
    control = {"ctr": float(control_ctr)}
    if "control_ci" in body:
        control["ctr_ci"] = _check_interval("control_ci", body["control_ci"])
    return [{**arm, "ctr": float(arm["ctr"])} for arm in arms], control


def _check_interval(name: str, interval) -> list[float]:
    if not isinstance(interval, list) or len(interval) != 2 or not all(_number_in(x, -1, 2) for x in interval) \
            or interval[0] > interval[1]:
        raise bad_request(name, interval, "an interval [low, high] of a click rate, low <= high")
    return [float(x) for x in interval]


def _check_ids(name: str, ids, least: int) -> None:
    if not isinstance(ids, list) or not least <= len(ids) <= MAX_WINNERS or not all(
            isinstance(i, str) and VARIANT_ID_PATTERN.match(i) for i in ids):
        raise bad_request(name, ids, f"a list of {least} to {MAX_WINNERS} variant ids")


def _number_in(value, low: float, high: float) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            and low <= value <= high)


def _segment(raw: str) -> int:
    if not raw.isdigit() or int(raw) > MAX_SEGMENT:
        raise bad_request("segment", raw, f"an integer in 0..{MAX_SEGMENT}")
    return int(raw)
