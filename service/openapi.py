"""The OpenAPI 3.1 document of the v1 API. Tests check that it names every route the app serves and,
by fuzzing the app from it (tests/service/test_api_fuzz.py), that it is exact: what it calls invalid the
API refuses, and what the API answers matches the response schemas here.

The core resources are described here; a blueprint module may describe its own routes in a
module-level `OPENAPI_PATHS` dict (same shape as "paths"), merged in when the app registers it.
"""
from __future__ import annotations

import sys

from flask import current_app

from features.events import EARLIEST, EVENT_TYPES, LATEST, MAX_QUERY_LENGTH, MAX_VALUE
from features.ids import ID_PATTERN, ID_RULE, MAX_ID_LENGTH, MAX_SESSION_ID_LENGTH
from service.api.items import (ATTRIBUTE_NAME, BOOLEAN_TEXT, MAX_ATTRIBUTES, MAX_DESCRIPTION_LENGTH,
                               MAX_FIELD_LENGTH, RESERVED)

ERROR = {"$ref": "#/components/schemas/Error"}
JSON_OBJECT = {"type": "object"}
# Text as features.events reads it (through pandas): a number ("1700000000": epoch seconds), an ISO 8601
# date or time of any precision from the month down ("2024-05", "2024-05-01 10:00+02:00"), or blank.
NUMBER_TEXT = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"
ISO_TEXT = (r"^\s*[0-9]{4}-[0-9]{2}(-[0-9]{2}([T ][0-9]{2}(:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?)?"
            r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?)?\s*$")
BLANK_TEXT = r"^\s*$"


def _op(summary: str, scope: str | None, ok: str, ok_schema=None, params=(), body=None, errors=(400,),
        ok_media: str = "application/json", **extra) -> dict:
    """One operation. `scope`: "items" or "items or cards"; each becomes a role of the bearer scheme
    (OpenAPI 3.1), so clients and the fuzz test read which key to send. A path parameter that no route
    matches (a "/" in it, text for an integer) is a 404, so every operation with one documents 404."""
    content = {ok_media: {"schema": ok_schema}} if ok_schema else {}
    responses = {ok: {"description": "success", **({"content": content} if content else {})}}
    path_errors = (404,) if any(p["in"] == "path" for p in params) else ()
    for status in sorted({*errors, *path_errors, *((401, 403, 429) if scope else ())}):
        responses[str(status)] = {"description": "error", "content": {"application/json": {"schema": ERROR}}}
    operation = {"summary": summary, "parameters": list(params), "responses": responses, **extra}
    if scope:
        operation["security"] = [{"apiKey": [name]} for name in scope.split(" or ")]
        operation["description"] = f"Needs an API key with scope `{scope}`."
    if body:
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def _path(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _id(max_length: int = MAX_ID_LENGTH, blank: str | None = None) -> dict:
    """An id by features.ids' rule; a whole number is read as its digits. `blank`: what "" or null mean."""
    forms = [{"type": "string", "pattern": ID_PATTERN, "maxLength": max_length},
             {"type": "integer", "minimum": 0, "maximum": 10**max_length - 1}]
    if blank:
        forms += [{"type": "string", "maxLength": 0}, {"type": "null"}]
    return {"anyOf": forms, "description": f"{ID_RULE}; a whole number is read as its digits" +
            (f"; {blank}" if blank else "")}


ID_TEXT = {"type": "string", "pattern": ID_PATTERN, "maxLength": MAX_ID_LENGTH}
PRODUCT_ID = ID_TEXT | {"description": f"the store's own product id (a SKU such as APL-001): {ID_RULE}"}
ITEM_ID = _path("item_id", PRODUCT_ID)
VARIANT_ID = _path("variant_id", {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,128}$"})
IMAGE = {"type": "string", "format": "binary"}


def _any_case(words) -> dict:
    """Text that is one of `words` in any case, spaces around it ignored (as the API reads it)."""
    spelt = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word) for word in words)
    return {"type": "string", "pattern": r"^\s*(" + "|".join(spelt) + r")\s*$"}


# in_stock as the API reads it: a boolean, 0 or 1, or text true/false, yes/no, 1/0 (any case)
FLAG = {"anyOf": [{"type": "boolean"}, {"enum": [0, 1]}, _any_case(BOOLEAN_TEXT)]}
TEXT = {"type": "string", "maxLength": MAX_FIELD_LENGTH}
PRODUCT_FIELDS = {"title": TEXT | {"pattern": r"\S"}, "in_stock": FLAG,
                  "description": {"type": "string", "maxLength": MAX_DESCRIPTION_LENGTH}}


def _product_body(fields: dict, attribute: dict, required: list[str]) -> dict:
    """title, description, in_stock (and a photo in a form); any other field is an attribute of that name."""
    attribute_name = {"pattern": ATTRIBUTE_NAME.pattern, "not": {"enum": sorted(RESERVED)}}
    names = {"anyOf": [{"enum": sorted(fields)}, attribute_name]}
    return {"type": "object", "required": required, "minProperties": 1, "maxProperties": len(fields) + MAX_ATTRIBUTES,
            "properties": fields, "additionalProperties": attribute, "propertyNames": names,
            "description": f"at most {MAX_ATTRIBUTES} attributes; their names: a letter, then up to 63 letters, "
                           f"digits, spaces and _.- (not {', '.join(sorted(RESERVED))})"}


# Without a photo a product is text-only (embedded from its title and description).
PRODUCT_FORM = _product_body(PRODUCT_FIELDS | {"image": IMAGE}, TEXT, ["title"])
# In JSON an attribute may be a number too: stored as its text, as a catalogue file's cell is
JSON_ATTRIBUTE = {"anyOf": [TEXT, {"type": "number", "description": "stored as text"}]}
PRODUCT_JSON = _product_body(PRODUCT_FIELDS, JSON_ATTRIBUTE, ["title"])
PRODUCT_PATCH = _product_body(PRODUCT_FIELDS, {"anyOf": [*JSON_ATTRIBUTE["anyOf"],
                                                         {"type": "null", "description": "removes it"}]}, [])
PRODUCT = {"type": "object", "additionalProperties": False,
           "required": ["id", "title", "description", "attributes", "in_stock", "has_photo", "content_hash"],
           "properties": {"id": PRODUCT_ID, "title": {"type": "string"}, "description": {"type": "string"},
                          "attributes": {"type": "object", "additionalProperties": {"type": "string"}},
                          "in_stock": {"type": "boolean"}, "has_photo": {"type": "boolean"},
                          "content_hash": {"type": "string"}}}
# user_id and item_id may be left out (as a blank CSV cell): then session_id names the shopper, or the
# event is a search (query).
EVENT = {"type": "object", "required": ["event_id", "type", "timestamp"],
         "additionalProperties": False, "properties": {
             "event_id": _id() | {"description": f"idempotency key: {ID_RULE}"},
             "user_id": _id(blank="absent or empty: the anonymous shopper `session:<session_id>`"),
             "item_id": _id(blank="absent or empty: a search-only event (then `query` is needed)"),
             "type": {"anyOf": [{"enum": list(EVENT_TYPES)}, _any_case(EVENT_TYPES)],
                      "description": f"one of {', '.join(EVENT_TYPES)} (any case)"},
             "timestamp": {"anyOf": [
                 {"type": "number", "minimum": EARLIEST, "exclusiveMaximum": LATEST},
                 {"type": "string", "format": "date-time"}, {"type": "string", "pattern": ISO_TEXT},
                 {"type": "string", "pattern": NUMBER_TEXT}],
                 "description": "epoch seconds (a number, or text) or ISO 8601, from 1970-01-01 up to 2100-01-01"},
             "session_id": _id(MAX_SESSION_ID_LENGTH, blank="empty: no session"),
             "query": {"type": ["string", "null"], "maxLength": MAX_QUERY_LENGTH, "description": "search text"},
             "value": {"anyOf": [{"type": "number", "minimum": -MAX_VALUE, "maximum": MAX_VALUE},
                                 {"type": "string", "pattern": NUMBER_TEXT}, {"type": "string", "pattern": BLANK_TEXT},
                                 {"type": "null"}],
                       "description": f"a finite number, |value| <= {MAX_VALUE:g} (e.g. a price); blank: none"}}}
NULLABLE_TEXT = {"type": ["string", "null"]}
COLOUR = {"type": "object", "additionalProperties": False,
          "required": ["name", "hex", "preview_url", "label", "reason"], "properties": {
              "name": {"type": "string", "description": "as the product's row writes it, e.g. 'Navy Blue'"},
              "hex": NULLABLE_TEXT | {"pattern": "^#[0-9a-f]{6}$", "description": "sRGB; null: no single colour"},
              "preview_url": NULLABLE_TEXT | {"description": "the photo previewed in this colour; null: none (see "
                                                             "reason)"},
              "label": NULLABLE_TEXT | {"description": "show it over the preview: 'Colour preview: <name>'"},
              "reason": NULLABLE_TEXT | {"description": "why there is no preview ('Multi', a text-only product)"}}}
CARD = {"type": "object", "required": ["rank", "product", "score", "explanation", "image_url", "variant"],
        "properties": {
            "rank": {"type": "integer", "minimum": 1, "description": "the card's place; ranks follow the score "
                     "traded against likeness to the cards above (diversity, recsys.mmr), so a lower card may score higher"},
            "product": {"type": "object", "required": ["id", "title", "attributes"],
                        "properties": {k: PRODUCT["properties"][k] for k in ("id", "title", "attributes")}},
            "score": {"type": "number", "description": "relevance to the shopper's taste, before diversity"},
            "explanation": {"type": "array", "items": JSON_OBJECT},
            "image_url": {"type": ["string", "null"], "description": "null: a text-only product (no photo)"},
            "variant": {"type": ["object", "null"], "description": "set when the card shows a made image (the "
                        "product over a backdrop painted for the shopper's taste segment, or its photo enlarged to "
                        "card size): id, ai_generated, label (show it: e.g. 'AI-generated background'), segment, "
                        "provenance, provenance_url; null: the product's photo as uploaded"},
            "experiment": {"type": "object", "description": "the experiment and arm, when the shopper is in one"},
            "colours": {"type": "array", "items": {"$ref": "#/components/schemas/Colour"}, "minItems": 1,
                        "description": "only when the product's row lists the colours it comes in: each with its "
                                       "preview; image_url stays the product's own photo"}}}


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
                "Error": {"type": "object", "required": ["error", "message"], "additionalProperties": False,
                          "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
                "Event": EVENT, "Card": CARD, "Product": PRODUCT, "Colour": COLOUR,
            },
        },
        "paths": _core_paths(max_events, max_cards),
    }


def _core_paths(max_events: int, max_cards: int) -> dict:
    events = {"type": "array", "items": {"$ref": "#/components/schemas/Event"}, "minItems": 1, "maxItems": max_events}
    product = {"$ref": "#/components/schemas/Product"}
    return {
        "/v1/users": {"get": _op("Shoppers, most active first", "cards", "200", {
            "type": "object", "required": ["users"], "properties": {"users": {"type": "array", "items": {
                "type": "object", "required": ["user_id", "events", "simulated"], "properties": {
                    "user_id": {"type": "string"}, "events": {"type": "integer", "minimum": 1},
                    "simulated": {"type": "boolean"}}}}}},
            [_query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "how many")])},
        "/v1/users/{user_id}/cards": {"get": _op(
            "Ranked personalized cards; never waits for image generation", "cards", "200",
            {"type": "object", "required": ["user_id", "segment", "experiment", "cards"], "properties": {
                "user_id": ID_TEXT, "cards": {"type": "array", "items": {"$ref": "#/components/schemas/Card"}},
                "segment": {"type": ["integer", "null"], "description": "taste segment: scenes are painted for it "
                            "and experiments may target it; null when the store has no segments yet"},
                "experiment": {"type": ["object", "null"]}}},
            [_path("user_id", ID_TEXT | {"description": ID_RULE}),
             _query("n", {"type": "integer", "minimum": 1, "maximum": max_cards}, "number of cards")])},
        "/v1/events": {"post": _op(
            "Store one event or a batch (idempotent by event_id; all or nothing; unknown fields are refused)",
            "events", "202", {"type": "object", "required": ["accepted", "duplicates"], "additionalProperties": False,
                              "properties": {"accepted": {"type": "integer", "minimum": 0},
                                             "duplicates": {"type": "integer", "minimum": 0}}},
            body={"application/json": {"schema": {"oneOf": [
                {"$ref": "#/components/schemas/Event"}, events,
                {"type": "object", "required": ["events"], "properties": {"events": events}}]}}},
            errors=(400, 413, 415))},
        "/v1/items/{item_id}": {
            "get": _op("A product", "items or cards", "200", product, [ITEM_ID]),
            "put": _op("Create or replace a product; re-embeds it and queues its variants", "items", "200",
                       product, [ITEM_ID], {"multipart/form-data": {"schema": PRODUCT_FORM},
                                            "application/json": {"schema": PRODUCT_JSON}}, errors=(400, 413, 415)),
            "patch": _op("Change some fields (JSON, or multipart to change the photo)", "items", "200", product,
                         [ITEM_ID], {"application/json": {"schema": PRODUCT_PATCH},
                                     "multipart/form-data": {"schema": PRODUCT_FORM | {"required": []}}},
                         errors=(400, 413, 415)),
            "delete": _op("Delete a product", "items", "204", None, [ITEM_ID]),
        },
        "/v1/items/{item_id}/image": {"get": _op(
            "The product photo (public: an <img> sends no key); 404 for a text-only product", None, "200", IMAGE,
            [ITEM_ID, _query("size", {"enum": ["card"]}, "card: enlarged plainly (bicubic) to at least 240 px on "
                                                         "the long side when the upload is smaller")],
            ok_media="image/*")},
        "/v1/items/{item_id}/colours": {"get": _op(
            "The colours the product comes in (its row's `colours` attribute), each with its preview URL; an empty "
            "list when the row lists none; 422 when the row's colours cannot be read", "items or cards", "200",
            {"type": "object", "required": ["id", "colours"], "additionalProperties": False, "properties": {
                "id": PRODUCT_ID, "colours": {"type": "array", "items": {"$ref": "#/components/schemas/Colour"}}}},
            [ITEM_ID], errors=(400, 422))},
        "/v1/items/{item_id}/colours/{name}": {"get": _op(
            "The photo at card size in a colour its row lists, labelled (header X-Colour-Preview: <name>; the PNG "
            "carries its provenance). Public. 404 for a colour the row does not list (the message lists those it "
            "does); 422 when no preview can be made (no single colour, no photo, no trusted matte)", None, "200",
            IMAGE, [ITEM_ID, _path("name", {"type": "string", "description": "the colour's name or slug, any case: "
                                                                             "'Navy Blue', 'navy-blue'"})],
            errors=(400, 422), ok_media="image/png")},
        "/v1/variants/{variant_id}": {"get": _op("A generated image (header X-AI-Generated: true)", None, "200",
                                                 IMAGE, [VARIANT_ID], errors=(), ok_media="image/*")},
        "/v1/variants/{variant_id}/provenance": {"get": _op(
            "A variant's provenance record", None, "200",
            {"type": "object", "required": ["id", "product_id", "segment", "provenance"],
             "properties": {"id": {"type": "string"}, "product_id": PRODUCT_ID,
                            "provenance": JSON_OBJECT}}, [VARIANT_ID], errors=())},
        "/healthz": {"get": _op("The process answers", None, "200", {
            "type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}, errors=())},
        "/readyz": {"get": _op("Database and model ready", None, "200", {
            "type": "object", "required": ["status", "products"], "properties": {
                "status": {"const": "ready"}, "products": {"type": "integer", "minimum": 0}}}, errors=(503,))},
        "/metrics": {"get": _op("Prometheus metrics", None, "200", {"type": "string"}, errors=(),
                                ok_media="text/plain")},
    }
