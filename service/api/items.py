"""Products: read, create or replace (attributes plus an uploaded photo), patch, delete, and the photo."""
from __future__ import annotations

import io

from PIL import Image
from flask import Blueprint, Response, current_app, jsonify, request

from features.catalogue import KNOWN_ATTRIBUTES
from features.images import open_image
from service import catalogue_changes, repository
from service.api.params import bad_request, item_id as checked_item_id
from service.auth import require_scope
from service.errors import ApiError

bp = Blueprint("items", __name__, url_prefix="/v1/items")
MAX_FIELD_LENGTH = 300
BOOLEAN_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp"}


@bp.get("/<int:item_id>")
@require_scope("items", "cards")
def get(item_id: int):
    product = _existing(item_id)
    return jsonify(_public(product))


@bp.get("/<int:item_id>/image")
def image(item_id: int):
    """The original photo. Public (an <img> cannot send a key); cached by content hash."""
    if request.if_none_match and request.if_none_match.contains(_existing(item_id)["content_hash"]):
        return Response(status=304)  # the browser has it: the photo is not read
    product = _existing(item_id, with_image=True)  # the ETag comes from the same row as the photo
    response = Response(product["image"], mimetype=_media_type(product["image"]))
    response.set_etag(product["content_hash"])
    response.cache_control.public, response.cache_control.max_age = True, 3600
    return response


@bp.put("/<int:item_id>")
@require_scope("items")
def put(item_id: int):
    """multipart/form-data: `title`, attribute fields, optional `in_stock`, and the photo as `image`."""
    item_id = checked_item_id(item_id)
    fields = _form_fields(partial=False)
    photo = _uploaded_image(required=True)
    return jsonify(catalogue_changes.save_product(item_id, fields["title"], _attributes(fields, {}), photo,
                                                  fields.get("in_stock", True)))


@bp.patch("/<int:item_id>")
@require_scope("items")
def patch(item_id: int):
    """JSON (or multipart, to change the photo too) with any of `title`, attribute fields, `in_stock`."""
    current = _existing(item_id, with_image=True)
    fields = _json_fields() if request.is_json else _form_fields(partial=True)
    photo = _uploaded_image(required=False) or current["image"]
    return jsonify(catalogue_changes.save_product(item_id, fields.get("title", current["title"]),
                                                  _attributes(fields, current["attributes"]), photo,
                                                  fields.get("in_stock", current["in_stock"])))


@bp.delete("/<int:item_id>")
@require_scope("items")
def delete(item_id: int):
    if not catalogue_changes.delete_product(checked_item_id(item_id)):
        raise ApiError(404, "not_found", f"no product {item_id}")
    return "", 204


def _existing(item_id: int, with_image: bool = False) -> dict:
    with current_app.extensions["tailorcard.db"].connect() as connection:
        product = repository.get_product(connection, checked_item_id(item_id), with_image=with_image)
    if product is None:
        raise ApiError(404, "not_found", f"no product {item_id}")
    return product


def _public(product: dict) -> dict:
    return {"id": product["product_id"], "title": product["title"], "attributes": product["attributes"],
            "in_stock": product["in_stock"], "content_hash": product["content_hash"]}


def _form_fields(partial: bool) -> dict:
    fields = {}
    for name, value in request.form.items():
        fields[name] = _checked_field(name, value)
    if not partial and not fields.get("title"):
        raise bad_request("title", fields.get("title"), "a non-empty product title")
    return fields


def _json_fields() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body:
        raise ApiError(400, "bad_request", "expected a JSON object with fields to change")
    return {name: _checked_field(name, value) for name, value in body.items()}


def _checked_field(name: str, value):
    """Known fields only; text within limits; in_stock a boolean. Unknown fields are an error, not ignored."""
    allowed = ("title", "in_stock", *KNOWN_ATTRIBUTES)
    if name not in allowed:
        raise bad_request(name, value, f"one of the fields {list(allowed)}")
    if name == "in_stock":
        flag = value if isinstance(value, bool) else BOOLEAN_TEXT.get(str(value).strip().lower())
        if flag is None:
            raise bad_request(name, value, "true or false")
        return flag
    if not isinstance(value, str) or len(value) > MAX_FIELD_LENGTH or (name == "title" and not value.strip()):
        raise bad_request(name, value, f"text of at most {MAX_FIELD_LENGTH} characters" +
                          (", not empty" if name == "title" else ""))
    return value.strip()


def _attributes(fields: dict, current: dict) -> dict:
    """Attributes in catalogue order (the content hash depends on the order)."""
    merged = {**current, **{k: v for k, v in fields.items() if k in KNOWN_ATTRIBUTES}}
    return {k: merged[k] for k in (*KNOWN_ATTRIBUTES, *sorted(set(merged) - set(KNOWN_ATTRIBUTES))) if k in merged}


def _uploaded_image(required: bool) -> bytes | None:
    upload = request.files.get("image")
    if upload is None:
        if required:
            raise bad_request("image", None, "a product photo uploaded as the multipart field 'image'")
        return None
    data = upload.read()
    open_image(data)  # checked by content now, so a bad photo stores nothing
    return data


def _media_type(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:  # the header only; the bytes were checked when stored
        return MEDIA_TYPES.get(image.format, "application/octet-stream")
