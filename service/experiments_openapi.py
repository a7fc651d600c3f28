"""The experiments' part of the OpenAPI document; service.openapi merges it into "paths".

Import it inside openapi_document() (it uses service.openapi's helpers, so a top-level import
there would be circular).
"""
from __future__ import annotations

from service.openapi import _op, _path, _query

NAME = _path("name", {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"})
ARM = {"type": "object", "required": ["name", "weight"], "properties": {
    "name": {"type": "string"}, "weight": {"type": "number", "minimum": 0},
    "image_policy": {"enum": ["original", "variant", "variant_params"]},
    "generator_params": {"type": "object", "description": "strength, taste_weight, guidance, steps, seed"}}}
EXPERIMENT = {"type": "object", "required": ["name", "arms"], "properties": {
    "name": {"type": "string"}, "hypothesis": {"type": "string"},
    "arms": {"type": "array", "minItems": 2, "items": ARM, "description": "the first arm is the control"},
    "slot": {"type": "string", "default": "cards"},
    "layer": {"type": "string", "description": "experiments in one layer never share a user; default: the slot"},
    "population": {"type": "object", "properties": {"traffic": {"type": "number"},
                                                    "segments": {"type": "array", "items": {"type": "integer"}}}},
    "primary_metric": {"enum": ["ctr", "add_to_cart_rate", "conversion_rate"]},
    "guardrails": {"type": "array", "items": {"enum": ["ctr", "add_to_cart_rate", "conversion_rate"]}},
    "attribution_window_s": {"type": "number", "default": 86400}, "salt": {"type": "string"}}}
JSON_OBJECT = {"type": "object"}
EXPOSURES = {"application/json": {"schema": {"type": "object", "properties": {"exposures": {
    "type": "array", "maxItems": 10_000, "items": {"type": "object", "required": ["user_id", "item_id", "position"],
                                                   "properties": {"user_id": {"type": "string"},
                                                                  "item_id": {"type": "integer"},
                                                                  "position": {"type": "integer", "minimum": 1},
                                                                  "image": {"enum": ["original", "variant"]},
                                                                  "timestamp": {"type": "number"},
                                                                  "segment": {"type": "integer"}}}}}}}}

EXPERIMENT_PATHS = {
    "/v1/experiments": {
        "get": _op("Experiments and their arms", "experiments", "200", JSON_OBJECT, errors=()),
        "post": _op("Create a draft experiment", "experiments", "201", JSON_OBJECT,
                    body={"application/json": {"schema": EXPERIMENT}}, errors=(400, 409, 415))},
    "/v1/experiments/{name}": {"get": _op("One experiment", "experiments", "200", JSON_OBJECT, [NAME], errors=(404,))},
    "/v1/experiments/{name}/start": {"post": _op("Start: claim part of the layer, fix the arm buckets", "experiments",
                                                 "200", JSON_OBJECT, [NAME], errors=(400, 404))},
    "/v1/experiments/{name}/stop": {"post": _op("Stop", "experiments", "200", JSON_OBJECT, [NAME], errors=(400, 404))},
    "/v1/experiments/{name}/weights": {"put": _op(
        "New traffic weights; users already assigned keep their arm", "experiments", "200", JSON_OBJECT, [NAME],
        {"application/json": {"schema": {"type": "object", "properties": {"weights": {
            "type": "object", "additionalProperties": {"type": "number"}}}}}}, errors=(400, 404, 415))},
    "/v1/experiments/{name}/results": {"get": _op(
        "Per-arm metrics, lifts with 95% intervals, SRM, CUPED, breakdowns, cumulative lift", "experiments", "200",
        JSON_OBJECT, [NAME, _query("detail", {"enum": ["full", "summary"]}, "summary skips breakdowns and the curve")],
        errors=(400, 404))},
    "/v1/experiments/{name}/results.csv": {"get": _op("The results as CSV (a row per scope, arm and metric)",
                                                      "experiments", "200", None, [NAME], errors=(400, 404))},
    "/v1/exposures": {"post": _op("Cards a storefront showed from its own cache: assigns and logs them", "cards",
                                  "202", JSON_OBJECT, body=EXPOSURES, errors=(400, 413, 415))},
    "/experiments/{name}": {"get": _op("The results page (HTML; asks for an analyst key)", None, "200", None, [NAME],
                                       errors=())},
}
