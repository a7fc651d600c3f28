"""A catalogue sync through the admin API, in batches: `tailorcard catalogue sync` for stores that push.

POST /v1/catalogue/batches {"products": [rows in the catalogue format], "delete": [product ids], "dry_run": bool}
upserts the rows (a new product is added, a changed one replaced and re-embedded only if its photo or text
changed, an unchanged one left as it is) and deletes the ids; the reply says which, and which ids to delete matched
no live product (`not_found`: deleting twice is no error). An id both upserted and deleted is refused. Photos are http(s) URLs
(fetched with the catalogue's limits) or absent (a text-only product). Idempotent: sending a batch twice
changes nothing the second time.

The body's shape is checked here; service.catalogue_changes.sync_batch checks the rows as a catalogue file,
plans, applies and brings this worker up to date (a CatalogueError is a 400 invalid_product: service.errors).
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from features.image_sources import is_web_url
from service.api.params import bad_request, json_body, product_id
from service.auth import require_scope
from service.catalogue_changes import sync_batch
from service.openapi import PRODUCT_ID, _op

bp = Blueprint("catalogue", __name__, url_prefix="/v1/catalogue")
MAX_BATCH = 500
BATCH = {"type": "object", "additionalProperties": False, "properties": {
    "products": {"type": "array", "maxItems": MAX_BATCH, "items": {"type": "object", "required": ["product_id", "title"]},
                 "description": "catalogue rows: product_id, title, optional description and image (an http(s) "
                                "URL), any attributes"},
    "delete": {"type": "array", "maxItems": MAX_BATCH, "items": PRODUCT_ID},
    "dry_run": {"type": "boolean", "default": False}}}
OPENAPI_PATHS = {"/v1/catalogue/batches": {"post": _op(
    "Upsert and delete products in one batch (a catalogue sync in steps)", "items", "200", {"type": "object"},
    body={"application/json": {"schema": BATCH}}, errors=(400, 413, 415))}}


@bp.post("/batches")
@require_scope("items")
def batch():
    body = json_body()
    if not isinstance(body, dict) or set(body) - {"products", "delete", "dry_run"}:
        raise bad_request("body", body, 'an object with "products", "delete" and "dry_run"')
    rows, deletes, dry_run = body.get("products", []), body.get("delete", []), body.get("dry_run", False)
    if not isinstance(rows, list) or not isinstance(deletes, list) or not isinstance(dry_run, bool):
        raise bad_request("body", body, '"products" and "delete" lists, "dry_run" true or false')
    if len(rows) > MAX_BATCH or len(deletes) > MAX_BATCH:
        raise bad_request("batch", f"{len(rows)} products, {len(deletes)} deletes", f"at most {MAX_BATCH} of each")
    _check_rows(rows)
    named = {product_id(raw, "delete[]"): str(raw) for raw in deletes}
    both = sorted({str(row.get("product_id")) for row in rows} & set(named.values()))
    if both:  # which would win is no rule a merchant should have to guess
        raise bad_request("delete", both, "ids not also among the products to upsert in the same batch")
    return jsonify(dry_run=dry_run, **sync_batch(rows, named, dry_run))


def _check_rows(rows: list) -> None:
    """Each row an object whose image is an http(s) URL or absent; the rest is checked as a catalogue file is
    (service.catalogue_changes.sync_batch, which fetches the photos)."""
    for number, row in enumerate(rows):
        if not isinstance(row, dict):
            raise bad_request(f"products[{number}]", row, "a catalogue row object")
        image = row.get("image")
        if image not in (None, "") and not (isinstance(image, str) and is_web_url(image)):
            raise bad_request(f"products[{number}].image", image, "an http(s) URL, or none for a text-only product")
