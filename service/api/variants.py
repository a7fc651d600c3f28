"""Generated variants: image bytes (immutable, content-addressed: cached for a year) and provenance."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from service import repository
from service.deps import deps
from service.errors import ApiError
from service.variants import VARIANT_ID_PATTERN

bp = Blueprint("variants", __name__, url_prefix="/v1/variants")


def _checked(variant_id: str) -> str:
    """Ids are tokens, never paths: nothing outside the pattern reaches the store."""
    if not VARIANT_ID_PATTERN.match(variant_id):
        raise ApiError(404, "not_found", f"no variant {variant_id[:140]!r}")
    return variant_id


@bp.get("/<variant_id>")
def image(variant_id: str):
    store = deps().variants
    record = store.get(_checked(variant_id))
    if request.if_none_match.contains(record.variant_id):
        return Response(status=304)
    response = Response(store.read_bytes(record.variant_id), mimetype=record.media_type)
    response.set_etag(record.variant_id)
    response.cache_control.public, response.cache_control.max_age = True, 31_536_000
    response.cache_control.immutable = True
    response.headers["X-AI-Generated"] = "true" if record.provenance.get("ai_generated", True) else "false"
    response.headers["Link"] = f'</v1/variants/{record.variant_id}/provenance>; rel="describedby"'
    return response


@bp.get("/<variant_id>/provenance")
def provenance(variant_id: str):
    record = deps().variants.get(_checked(variant_id))
    with deps().db.connect() as connection:
        product_id = repository.sku_of(connection, record.product_id)
    return jsonify(id=record.variant_id, product_id=product_id, segment=record.segment, provenance=record.provenance)


