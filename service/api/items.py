"""Products: read, create or replace (text, any attributes, an optional photo), patch, delete, the photo, and
the colours the product comes in with a preview of each.

Each view checks its input and calls one use case of service.catalogue_changes (service.colour_previews for the
colours); its NotFound is a 404, a colour preview that cannot be made a 422 saying why.
"""
from __future__ import annotations

import io
import math
import re
from contextlib import contextmanager

from PIL import Image
from flask import Blueprint, Response, jsonify, request

from features.colours import ATTRIBUTE_NAMES as COLOUR_ATTRIBUTES, ColourError, colour_problem, colours_cell
from features.images import open_image
from service import catalogue_changes, colour_previews
from service.api.params import bad_request, json_body, product_sku
from service.auth import require_scope
from service.errors import ApiError

bp = Blueprint("items", __name__, url_prefix="/v1/items")
MAX_FIELD_LENGTH = 300  # a title or an attribute value
MAX_DESCRIPTION_LENGTH = 5000
MAX_ATTRIBUTES = 50
FIELDS = ("title", "description", "in_stock")  # every other field is an attribute of that name
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_ .-]{0,63}$")
RESERVED = {"product_id", "image", "id", *FIELDS}
BOOLEAN_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp"}


@bp.get("/<item_id>")
@require_scope("items", "cards")
def get(item_id: str):
    return jsonify(_public(catalogue_changes.product(product_sku(item_id))))


@bp.get("/<item_id>/image")
def image(item_id: str):
    """The photo as uploaded, or with ?size=card enlarged plainly to card size when it is smaller (what cards show
    until the photo's card-size copy is made). Public (an <img> cannot send a key); cached by content hash."""
    size = request.args.get("size")
    if size not in (None, "card"):
        raise bad_request("size", size, "'card' (at least 240 px on the long side), or no size: as uploaded")
    photo = catalogue_changes.product_photo(product_sku(item_id), request.if_none_match, at_card_size=size == "card")
    if photo is None:
        return Response(status=304)  # the browser has it: the photo was not read
    response = Response(photo["image"], mimetype=_media_type(photo["image"]))
    response.set_etag(photo["etag"])
    response.cache_control.public, response.cache_control.max_age = True, 3600
    return response


@bp.get("/<item_id>/colours")
@require_scope("items", "cards")
def colours(item_id: str):
    """The colours the product comes in (its row's `colours` attribute), each with its preview URL; [] when none."""
    sku = product_sku(item_id)
    with _colour_refusals():
        return jsonify(id=sku, colours=colour_previews.listed_colours(sku))


@bp.get("/<item_id>/colours/<name>")
def colour_preview(item_id: str, name: str):
    """The photo at card size in a colour the row lists (by name or slug: "Navy Blue", "navy-blue"), as a PNG that
    carries its provenance. Public, as the photo is (an <img> cannot send a key); cached by content hash."""
    with _colour_refusals():
        preview = colour_previews.colour_preview(product_sku(item_id), name, request.if_none_match)
    if preview is None:
        return Response(status=304)  # the browser has it: nothing was made
    response = Response(preview["image"], mimetype="image/png")
    response.set_etag(preview["etag"])
    response.cache_control.public, response.cache_control.max_age = True, 3600
    response.headers["X-Colour-Preview"] = preview["name"]
    response.headers["X-AI-Generated"] = "false"  # a fixed colour edit of the photo, no generative model
    return response


@contextmanager
def _colour_refusals():
    """No preview can be made (no single colour, no photo, no trusted matte) or the row's colours cannot be read:
    a 422 that says why."""
    try:
        yield
    except ColourError as exc:
        raise ApiError(422, "invalid_colours", str(exc)) from None
    except colour_previews.ColourPreviewRefused as exc:
        raise ApiError(422, "no_colour_preview", str(exc)) from None


@bp.put("/<item_id>")
@require_scope("items")
def put(item_id: str):
    """multipart/form-data: `title`, optional `description`, `in_stock`, any attribute fields, and the photo as
    `image` (without one the product is text-only: embedded from its title and description); or the same fields as
    a JSON object, for a text-only product."""
    sku = product_sku(item_id)
    fields = _json_fields() if request.is_json else _form_fields()
    if not fields.get("title"):
        raise bad_request("title", fields.get("title"), "a non-empty product title (a form field, or a key of the "
                          "JSON object)")
    return jsonify(catalogue_changes.save_product(
        sku, fields["title"], fields.get("description") or "", _attributes(fields, {}), _uploaded_image(),
        fields.get("in_stock", True)))


@bp.patch("/<item_id>")
@require_scope("items")
def patch(item_id: str):
    """JSON (or multipart, to change the photo too) with any of the fields; an attribute set to null is removed."""
    return jsonify(catalogue_changes.patch_product(product_sku(item_id), _patched))


@bp.delete("/<item_id>")
@require_scope("items")
def delete(item_id: str):
    catalogue_changes.delete_product(product_sku(item_id))
    return "", 204


def _patched(current: dict) -> dict:
    """The product after this request's changes (read once the product is found: a missing one is a 404 first)."""
    fields = _json_fields() if request.is_json else _form_fields()
    photo = _uploaded_image() or current["image"]
    return {"title": fields.get("title", current["title"]),
            "description": fields.get("description", current["description"] or ""),
            "attributes": _attributes(fields, current["attributes"]), "image_bytes": photo,
            "in_stock": fields.get("in_stock", current["in_stock"])}


def _public(product: dict) -> dict:
    return {"id": product["sku"], "title": product["title"], "description": product["description"] or "",
            "attributes": product["attributes"], "in_stock": product["in_stock"], "has_photo": product["has_photo"],
            "content_hash": product["content_hash"]}


def _form_fields() -> dict:
    return {name: _checked_field(name, value) for name, value in request.form.items()}


def _json_fields() -> dict:
    body = json_body()
    if not isinstance(body, dict) or not body:
        raise ApiError(400, "bad_request", "expected a JSON object with fields to change")
    return {name: _checked_field(name, value, nullable=name not in FIELDS) for name, value in body.items()}


def _checked_field(name: str, value, nullable: bool = False):
    """title, description, in_stock, or an attribute of any name (letters first; not a reserved name)."""
    if name == "in_stock":
        flag = value if isinstance(value, bool) else BOOLEAN_TEXT.get(str(value).strip().lower())
        if flag is None:
            raise bad_request(name, value, "true or false")
        return flag
    if name not in FIELDS and (name in RESERVED or not ATTRIBUTE_NAME.fullmatch(name)):
        raise bad_request("field name", name, "title, description, in_stock or an attribute name: a letter, then "
                          "up to 63 letters, digits, spaces and _.- (not product_id, id or image)")
    if value is None and nullable:
        return None  # removes the attribute
    if name not in FIELDS and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        value = str(value)  # an attribute is text, as in a catalogue file (a batch's 3.5 is stored as "3.5")
    limit = MAX_DESCRIPTION_LENGTH if name == "description" else MAX_FIELD_LENGTH
    if not isinstance(value, str) or len(value) > limit or (name == "title" and not value.strip()):
        raise bad_request(name, value, f"text of at most {limit} characters" + (", not empty" if name == "title" else ""))
    return value.strip()


def _attributes(fields: dict, current: dict) -> dict:
    """The current attributes (in their order: the content hash depends on it), changed and extended by `fields`."""
    merged = {**current, **{k: v for k, v in fields.items() if k not in FIELDS}}
    attributes = {k: v for k, v in merged.items() if v is not None}
    if len(attributes) > MAX_ATTRIBUTES:
        raise bad_request("attributes", len(attributes), f"at most {MAX_ATTRIBUTES} attributes per product")
    if any(name in fields for name in COLOUR_ATTRIBUTES):  # stored as sent, so checked as a catalogue row is
        problem = colour_problem(colours_cell(attributes))
        if problem:
            raise ApiError(400, "bad_request", problem)
    return attributes


def _uploaded_image() -> bytes | None:
    upload = request.files.get("image")
    if upload is None:
        return None
    data = upload.read()
    open_image(data)  # checked by content now, so a bad photo stores nothing
    return data


def _media_type(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:  # the header only; the bytes were checked when stored
        return MEDIA_TYPES.get(image.format, "application/octet-stream")
