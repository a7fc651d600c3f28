"""The OpenAPI 3 document of the v1 API. A test checks that it names every route the app serves.

The core resources are described here; a blueprint module may describe its own routes in a
module-level `OPENAPI_PATHS` dict (same shape as "paths"), merged in when the app registers it.
"""
from __future__ import annotations

import sys

from flask import current_app

ERROR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, scope: str | None, ok: str, ok_schema=None, params=(), body=None, errors=(400,), **extra) -> dict:
    responses = {ok: {"description": "success", **({"content": {"application/json": {"schema": ok_schema}}}
                                                  if ok_schema else {})}}
    for status in (*errors, *((401, 403, 429) if scope else ())):
        responses[str(status)] = {"description": "error", "content": {"application/json": {"schema": ERROR}}}
    operation = {"summary": summary, "parameters": list(params), "responses": responses, **extra}
    if scope:
        operation["security"] = [{"apiKey": []}]
        operation["description"] = f"Needs an API key with scope `{scope}`."
    if body:
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def _path(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


ITEM_ID = _path("item_id", {"type": "integer", "format": "int64", "minimum": 0})
VARIANT_ID = _path("variant_id", {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,128}$"})
PRODUCT_FORM = {"multipart/form-data": {"schema": {"type": "object", "required": ["title", "image"], "properties": {
    "title": {"type": "string"}, "in_stock": {"type": "boolean"}, "image": {"type": "string", "format": "binary"},
    "masterCategory": {"type": "string"}, "subCategory": {"type": "string"}, "articleType": {"type": "string"},
    "baseColour": {"type": "string"}, "usage": {"type": "string"}, "gender": {"type": "string"},
    "season": {"type": "string"}}}}}
EVENT = {"type": "object", "required": ["event_id", "user_id", "item_id", "type", "timestamp"], "properties": {
    "event_id": {"type": "string", "description": "idempotency key"}, "user_id": {"type": "string"},
    "item_id": {"type": ["integer", "string"], "description": "empty for a search-only event"},
    "type": {"enum": ["view", "click", "add_to_cart", "purchase", "like", "dislike", "return"]},
    "timestamp": {"type": ["number", "string"], "description": "epoch seconds or ISO 8601"},
    "session_id": {"type": "string"}, "query": {"type": "string"}, "value": {"type": "number"}}}


def openapi_document() -> dict:
    """The app's document, built once per app: the core paths plus every blueprint's OPENAPI_PATHS."""
    if "tailorcard.openapi" not in current_app.extensions:
        document = _core_document()
        for blueprint in current_app.blueprints.values():
            document["paths"].update(getattr(sys.modules[blueprint.import_name], "OPENAPI_PATHS", {}))
        current_app.extensions["tailorcard.openapi"] = document
    return current_app.extensions["tailorcard.openapi"]


def _core_document() -> dict:
    max_events, max_cards = current_app.config["MAX_EVENTS_PER_REQUEST"], current_app.config["MAX_CARDS"]
    return {
        "openapi": "3.1.0",
        "info": {"title": "tailorcard", "version": "1",
                 "description": "Personalized product cards, shopper events, product updates and AI-generated "
                                "variants (always labelled). Errors are JSON {error, message}."},
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"],
                          "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
                "Event": EVENT,
                "Card": {"type": "object", "properties": {
                    "rank": {"type": "integer"}, "product": {"type": "object"}, "score": {"type": "number"},
                    "explanation": {"type": "array", "items": {"type": "object"}}, "image_url": {"type": "string"},
                    "variant": {"type": ["object", "null"], "description": "set when the image is AI-generated: "
                                "id, ai_generated, segment (the colour it leans to), provenance, provenance_url"}}},
            },
        },
        "paths": {
            "/v1/users": {"get": _op("Shoppers, most active first", "cards", "200", {"type": "object"},
                                     [_query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "how many")])},
            "/v1/users/{user_id}/cards": {"get": _op(
                "Ranked personalized cards; never waits for image generation", "cards", "200",
                {"type": "object", "properties": {"cards": {"type": "array", "items": {"$ref": "#/components/schemas/Card"}},
                                                  "segment": {"type": "integer", "description": "taste segment (experiments may target it)"},
                                                  "colour": {"type": ["string", "null"], "description": "the colour the "
                                                             "shopper's behaviour leans to; variants lean to it"},
                                                  "experiment": {"type": ["object", "null"]}}},
                [_path("user_id"), _query("n", {"type": "integer", "minimum": 1, "maximum": max_cards}, "number of cards")])},
            "/v1/events": {"post": _op(
                "Store one event or a batch (idempotent by event_id; all or nothing)", "events", "202",
                {"type": "object", "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}}},
                body={"application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/Event"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Event"}, "maxItems": max_events},
                    {"type": "object", "properties": {"events": {"type": "array", "maxItems": max_events}}}]}}},
                errors=(400, 413, 415))},
            "/v1/items/{item_id}": {
                "get": _op("A product", "items or cards", "200", {"type": "object"}, [ITEM_ID], errors=(404,)),
                "put": _op("Create or replace a product; re-embeds it and queues its variants", "items", "200",
                           {"type": "object"}, [ITEM_ID], PRODUCT_FORM, errors=(400, 413)),
                "patch": _op("Change some fields (JSON, or multipart to change the photo)", "items", "200",
                             {"type": "object"}, [ITEM_ID], {"application/json": {"schema": {"type": "object"}},
                                                             **PRODUCT_FORM}, errors=(400, 404, 413)),
                "delete": _op("Delete a product", "items", "204", None, [ITEM_ID], errors=(404,)),
            },
            "/v1/items/{item_id}/image": {"get": _op("The original product photo", None, "200", None, [ITEM_ID],
                                                      errors=(404,))},
            "/v1/variants/{variant_id}": {"get": _op("A generated image (header X-AI-Generated: true)", None, "200",
                                                     None, [VARIANT_ID], errors=(404,))},
            "/v1/variants/{variant_id}/provenance": {"get": _op("A variant's provenance record", None, "200",
                                                                {"type": "object"}, [VARIANT_ID], errors=(404,))},
            "/healthz": {"get": _op("The process answers", None, "200", {"type": "object"}, errors=())},
            "/readyz": {"get": _op("Database and model ready", None, "200", {"type": "object"}, errors=(503,))},
            "/metrics": {"get": _op("Prometheus metrics", None, "200", None, errors=())},
        },
    }
