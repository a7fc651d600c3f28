"""The experiments' part of the OpenAPI document; service.openapi merges it into "paths".

Import it inside openapi_document() (it uses service.openapi's helpers, so a top-level import
there would be circular).
"""
from __future__ import annotations

from features.ids import ID_RULE
from recsys.experiments.model import IMAGE_POLICIES
from service.openapi import ID_TEXT, _op, _path, _query

ID = ID_TEXT | {"description": ID_RULE}
ID_OR_EMPTY = {"anyOf": [ID, {"type": "string", "maxLength": 0}]}
NAME = _path("name", ID)
ARM = {"type": "object", "required": ["name", "weight"], "additionalProperties": False, "properties": {
    "name": ID, "weight": {"type": "number", "minimum": 0, "maximum": 1000},
    "image_policy": {"enum": list(IMAGE_POLICIES), "default": "original",
                     "description": "original: the product photo; variant: the variant made for the shopper's taste "
                                    "segment. 'variant_params' (variants drawn with the arm's own generator "
                                    "parameters) is not supported yet and is refused"},
    "generator_params": {"type": "object", "maxProperties": 0,
                         "description": "reserved for 'variant_params' (not supported yet): leave it out"}}}
EXPERIMENT = {"type": "object", "required": ["name", "arms"], "additionalProperties": False, "properties": {
    "name": ID, "hypothesis": {"type": "string"},
    "arms": {"type": "array", "minItems": 2, "items": ARM, "description": "the first arm is the control"},
    "slot": ID | {"default": "cards"},
    "layer": ID_OR_EMPTY | {"description": "experiments in one layer never share a user; empty: the slot"},
    "population": {"type": "object", "properties": {"traffic": {"type": "number"},
                                                    "segments": {"type": "array", "items": {"type": "integer"}}}},
    "primary_metric": {"enum": ["ctr", "add_to_cart_rate", "conversion_rate"]},
    "guardrails": {"type": "array", "items": {"enum": ["ctr", "add_to_cart_rate", "conversion_rate"]}},
    "attribution_window_s": {"type": "number", "default": 86400},
    "salt": ID_OR_EMPTY | {"description": "assignment hashes salt + user id; empty: the name"}}}
JSON_OBJECT = {"type": "object"}
EXPOSURE = {"type": "object", "required": ["user_id", "item_id", "position"], "additionalProperties": False,
            "properties": {"user_id": ID, "item_id": {"anyOf": [ID, {"type": "integer", "minimum": 0}],
                                                      "description": "a product id"},
                           "position": {"type": "integer", "minimum": 1, "maximum": 10_000},
                           "image": {"enum": ["original", "variant"]}, "timestamp": {"type": "number", "minimum": 0},
                           "segment": {"type": "integer", "minimum": 0, "maximum": 10_000}}}
EXPOSURES = {"application/json": {"schema": {"type": "object", "required": ["exposures"], "properties": {
    "exposures": {"type": "array", "minItems": 1, "maxItems": 10_000, "items": EXPOSURE}}}}}

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
