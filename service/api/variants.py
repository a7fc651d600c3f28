"""Generated variants: image bytes (immutable, content-addressed: cached for a year) and provenance, through the
use cases of service.variants (VariantNotFound is a 404: service.errors)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from service.errors import ApiError
from service.variants import VARIANT_ID_PATTERN, variant_image, variant_provenance

bp = Blueprint("variants", __name__, url_prefix="/v1/variants")


def _checked(variant_id: str) -> str:
    """Ids are tokens, never paths: nothing outside the pattern reaches the store."""
    if not VARIANT_ID_PATTERN.match(variant_id):
        raise ApiError(404, "not_found", f"no variant {variant_id[:140]!r}")
    return variant_id


@bp.get("/<variant_id>")
def image(variant_id: str):
    found = variant_image(_checked(variant_id), request.if_none_match)
    if found is None:
        return Response(status=304)
    record, image_bytes = found
    response = Response(image_bytes, mimetype=record.media_type)
    response.set_etag(record.variant_id)
    response.cache_control.public, response.cache_control.max_age = True, 31_536_000
    response.cache_control.immutable = True
    response.headers["X-AI-Generated"] = "true" if record.provenance.get("ai_generated", True) else "false"
    response.headers["Link"] = f'</v1/variants/{record.variant_id}/provenance>; rel="describedby"'
    return response


@bp.get("/<variant_id>/provenance")
def provenance(variant_id: str):
    return jsonify(variant_provenance(_checked(variant_id)))
