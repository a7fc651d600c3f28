"""The experiments' part of the OpenAPI document; service.openapi merges it into "paths".

Import it inside openapi_document() (it uses service.openapi's helpers, so a top-level import
there would be circular).
"""
from __future__ import annotations

from features.ids import ID_RULE
from recsys.experiments.model import ALLOCATIONS, IMAGE_POLICIES, PRESENTATION_KINDS
from service.openapi import ID_TEXT, _op, _path, _query

ID = ID_TEXT | {"description": ID_RULE}
ID_OR_EMPTY = {"anyOf": [ID, {"type": "string", "maxLength": 0}]}
NAME = _path("name", ID)
NULLABLE_NUMBER = {"anyOf": [{"type": "number"}, {"type": "null"}]}
PRESENTATION = {"type": "object", "additionalProperties": False,
                "description": "a presentation policy: what the arm's cards show (checked as imagegen's "
                               "PresentationPolicy; images are stored per product, segment and policy)",
                "properties": {
                    "kind": {"enum": list(PRESENTATION_KINDS), "default": "scene",
                             "description": "original: the photo as uploaded; upscaled: the photo at card size; "
                                            "scene: the product over a backdrop painted for the shopper's segment"},
                    "guidance_scale": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 30}, {"type": "null"}]},
                    "num_inference_steps": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 200},
                                                      {"type": "null"}]},
                    "seed": {"type": "integer", "minimum": 0},
                    "backdrop_blur": {"type": "number", "minimum": 0, "maximum": 20},
                    "round": {"type": "integer", "minimum": 0,
                              "description": "0: painted for the segment's centroid; n: for the condition that "
                                             "round n's winners steered it to (POST /v1/segments/{segment}/rounds)"},
                    "candidates": {"type": "integer", "minimum": 1, "maximum": 16, "default": 4,
                                   "description": "backdrops painted per card; the one nearest the segment in CLIP "
                                                  "space is kept (the cost grows with it)"},
                    "style": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 7}, {"type": "null"}],
                              "default": None,
                              "description": "a scene style (a cluster of the generator's backdrops): arms that "
                                             "paint other styles for the same segment; null: the nearest of any"},
                    "round_style": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 7}, {"type": "null"}],
                                    "default": None,
                                    "description": "j: the round's j-th style (with style null). Round 0's are the "
                                                   "styles in order; a steered round's start with the style that "
                                                   "won the round before, then those nearest what won, so an arm "
                                                   "named by it follows the winners"}}}
ARM = {"type": "object", "required": ["name", "weight"], "additionalProperties": False, "properties": {
    "name": ID, "weight": {"type": "number", "minimum": 0, "maximum": 1000},
    "presentation": PRESENTATION,
    "image_policy": {"enum": list(IMAGE_POLICIES),
                     "description": "the old way to say what an arm shows (give presentation instead): original = "
                                    "{kind: upscaled}, variant = {kind: scene}; left out: derived from presentation"},
    "generator_params": {"type": "object", "maxProperties": 0, "deprecated": True,
                         "description": "gone: name generator settings in presentation; only an empty object is "
                                        "accepted (old definitions)"}}}
BANDIT = {"type": "object", "additionalProperties": False,
          "description": "Thompson sampling per taste segment (recsys.experiments.bandit.BanditConfig)",
          "properties": {
              "control_arm": ID_OR_EMPTY | {"description": "the first arm or empty (the first arm)"},
              "control_share": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.2,
                                "description": "always given to the control (which must show the photo)"},
              "min_share": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.02},
              "prior_alpha": {"type": "number", "exclusiveMinimum": 0, "default": 1},
              "prior_beta": {"type": "number", "exclusiveMinimum": 0, "default": 1},
              "win_probability": {"type": "number", "exclusiveMinimum": 0.5, "exclusiveMaximum": 1, "default": 0.95},
              "min_exposures": {"type": "integer", "minimum": 0, "default": 200},
              "decision_window_s": {"type": "number", "exclusiveMinimum": 0, "default": 3600}}}
ALLOCATION = {"enum": list(ALLOCATIONS), "default": "fixed",
              "description": "fixed: each shopper keeps one arm (the weights); bandit: per cards request, per segment"}
EXPERIMENT = {"type": "object", "required": ["name", "arms"], "additionalProperties": False, "properties": {
    "name": ID, "hypothesis": {"type": "string"},
    "arms": {"type": "array", "minItems": 2, "items": ARM, "description": "the first arm is the control"},
    "slot": ID | {"default": "cards"},
    "layer": ID_OR_EMPTY | {"description": "experiments in one layer never share a user; empty: the slot. One slot "
                            "is tested in one layer at a time (a shopper's cards show one arm): a second experiment "
                            "on the slot takes a share of that layer's traffic (population.traffic)"},
    "population": {"type": "object", "properties": {"traffic": {"type": "number"},
                                                    "segments": {"type": "array", "items": {"type": "integer"}}}},
    "primary_metric": {"enum": ["ctr", "add_to_cart_rate", "conversion_rate"]},
    "guardrails": {"type": "array", "items": {"enum": ["ctr", "add_to_cart_rate", "conversion_rate"]}},
    "attribution_window_s": {"type": "number", "default": 86400},
    "salt": ID_OR_EMPTY | {"description": "assignment hashes salt + user id; empty: the name"},
    "allocation": ALLOCATION, "bandit": BANDIT}}
ALLOCATION_CHANGE = {"application/json": {"schema": {
    "type": "object", "required": ["allocation"], "additionalProperties": False,
    "properties": {"allocation": ALLOCATION, "bandit": BANDIT}}}}
INTERVAL = {"anyOf": [{"type": "array", "items": {"type": ["number", "null"]}, "minItems": 2, "maxItems": 2},
                      {"type": "null"}]}
SEGMENT_ARM = {"type": "object", "properties": {
    "arm": {"type": "string"}, "users": {"type": "integer"}, "exposures": {"type": "integer"},
    "clicks": {"type": "integer"}, "ctr": NULLABLE_NUMBER, "ctr_ci": INTERVAL, "exposure_share": NULLABLE_NUMBER,
    "decisions": {"type": "integer"}, "decision_share": NULLABLE_NUMBER,
    "probability": NULLABLE_NUMBER | {"description": "the bandit's current probability (bandit experiments)"},
    "image_url": {"type": ["string", "null"], "description": "the most recent exposure's image"}}}
ESTIMATE = {"type": "object", "properties": {"method": {"type": "string"}, "value": NULLABLE_NUMBER,
                                             "se": NULLABLE_NUMBER, "interval": INTERVAL,
                                             "decisions": {"type": "integer"}}}
RESULTS = {"type": "object", "required": ["experiment", "status", "allocation", "arms", "lifts", "srm", "segments",
                                          "bandit_srm", "off_policy"], "properties": {
    "experiment": {"type": "string"}, "status": {"enum": ["draft", "running", "stopped"]},
    "allocation": ALLOCATION, "definition": {"type": "object"},
    "arms": {"type": "array", "items": {"type": "object"},
             "description": "per arm over users who saw one arm, exposures under the fixed split only"},
    "lifts": {"type": "array", "items": {"type": "object"}}, "srm": {"type": "object"},
    "exposures_by_allocation": {"type": "object", "description": "exposures under the fixed split (what arms and "
                                "lifts count) and served by the bandit (per segment and off-policy)", "properties": {
                                    "fixed": {"type": "integer"}, "bandit": {"type": "integer"}}},
    "attribution": {"type": "object", "description": "outcome events attributed over every exposure; users who saw "
                                                     "several arms are left out of the fixed analysis only"},
    "segments": {"type": "object", "description": "taste segment ('none': unknown) -> per-arm rows of every exposure",
                 "additionalProperties": {"type": "object", "properties": {
                     "segment": {"type": ["integer", "null"]}, "exposures": {"type": "integer"},
                     "decisions": {"type": "integer"}, "arms": {"type": "array", "items": SEGMENT_ARM},
                     "winner": {"type": "object"}}}},
    "bandit_srm": {"type": "object", "properties": {"overall": {"type": ["object", "null"]},
                                                    "segments": {"type": "object"}}},
    "off_policy": {"type": "object", "description": "per arm, IPS / SNIPS / DR estimates of its decision click rate "
                                                    "(a cards response with a click) from the logged decisions",
                   "properties": {"decisions": {"type": "integer"}, "reward": {"type": "string"},
                                  "arms": {"type": "object", "additionalProperties": {
                                      "type": "object", "properties": {"ips": ESTIMATE, "snips": ESTIMATE,
                                                                       "dr": ESTIMATE, "error": {"type": "string"}}}}}}}}
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
    "/v1/experiments/{name}/allocation": {"post": _op(
        "Switch between a fixed split and the bandit (the switch time is recorded); a bandit's control must show "
        "the photo", "experiments", "200", JSON_OBJECT, [NAME], ALLOCATION_CHANGE, errors=(400, 404, 415))},
    "/v1/experiments/{name}/results": {"get": _op(
        "Status, per-arm metrics, lifts with 95% intervals, SRM, CUPED, breakdowns, cumulative lift; per segment "
        "each arm's CTR, share, bandit probability and image; the bandit's SRM and off-policy estimates",
        "experiments", "200", RESULTS, [NAME, _query("detail", {"enum": ["full", "summary"]}, "summary skips breakdowns and the curve")],
        errors=(400, 404))},
    "/v1/experiments/{name}/results.csv": {"get": _op("The results as CSV (a row per scope, arm and metric; "
                                                      "scopes all, breakdowns, segment=<s>, off_policy)",
                                                      "experiments", "200", None, [NAME], errors=(400, 404))},
    "/v1/exposures": {"post": _op("Cards a storefront showed from its own cache: assigns and logs them", "cards",
                                  "202", JSON_OBJECT, body=EXPOSURES, errors=(400, 413, 415))},
    "/experiments/{name}": {"get": _op("The results page (HTML; asks for an analyst key)", None, "200", None, [NAME],
                                       errors=())},
}
