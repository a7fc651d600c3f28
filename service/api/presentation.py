"""The merchant's switch for AI-generated backgrounds, per product or per category (service.presentation_rules).

    GET    /v1/presentation/rules                                 {"rules": [{scope, value, variants, updated_at}]}
    PUT    /v1/presentation/rules/products/<product_id>           {"variants": "off" | "on"}
    PUT    /v1/presentation/rules/categories/<category>           {"variants": "off" | "on"}
    DELETE /v1/presentation/rules/products/<product_id>           (and categories/<category>): back to the default

An admin key (scope `items`) is needed. A product rule beats any category rule; among categories, "off" wins.
A product may be ruled before it is in the catalogue (a rule names the store's id, not a row).
Each view checks the URL (and body) and calls one use case of service.presentation_rules; NotFound is a 404.
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from features.categories import CATEGORY_ATTRIBUTES
from service import presentation_rules as rules
from service.api.params import bad_request, json_body, product_sku
from service.auth import require_scope
from service.openapi import PRODUCT_ID, _op, _path

bp = Blueprint("presentation", __name__, url_prefix="/v1/presentation")
SWITCH = {"off": True, "on": False}  # body value -> variants_off
CONTROL = r"\x00-\x1f\x7f-\x9f"
CATEGORY_TEXT = {"type": "string", "minLength": 1, "maxLength": rules.MAX_CATEGORY_LENGTH,
                 "pattern": rf"^[^/{CONTROL}]*[^\s/{CONTROL}][^/{CONTROL}]*$",
                 "description": "a category as the catalogue writes it (compared trimmed, spaces collapsed, any "
                                "case); a product's categories are the values of its attributes named like a "
                                f"category ({', '.join(sorted(CATEGORY_ATTRIBUTES))}: any case, spaces, _ or -) and "
                                "each level of a breadcrumb 'A > B > C'; a product without them has none"}
RULE = {"type": "object", "additionalProperties": False, "required": ["scope", "value", "variants", "updated_at"],
        "properties": {"scope": {"enum": list(rules.SCOPES)},
                       "value": {"type": "string", "description": "the product id, or the category (normalized)"},
                       "variants": {"enum": list(SWITCH)}, "updated_at": {"type": "number"}}}
BODY = {"application/json": {"schema": {
    "type": "object", "required": ["variants"], "additionalProperties": False,
    "properties": {"variants": {"enum": list(SWITCH), "description": "off: show the product's own photo; on: "
                                "AI-generated backgrounds allowed"}}}}}
PRECEDENCE = ("A product rule beats every category rule (a product 'on' shows variants in a category 'off'); "
              "among a product's categories, 'off' wins.")
PRODUCT_PARAM = _path("product_id", PRODUCT_ID)
CATEGORY_PARAM = _path("category", CATEGORY_TEXT)


def _rule_paths(param: dict, what: str) -> dict:
    return {
        "put": _op(f"Switch AI-generated backgrounds off or on for {what}. {PRECEDENCE}", "items", "200", RULE,
                   [param], BODY, errors=(400, 415)),
        "delete": _op(f"Remove the rule for {what} (back to the default: variants allowed)", "items", "204", None,
                      [param], errors=(400,)),
    }


OPENAPI_PATHS = {
    "/v1/presentation/rules": {"get": _op(
        f"The merchant's rules for AI-generated backgrounds. {PRECEDENCE}", "items", "200",
        {"type": "object", "required": ["rules"], "additionalProperties": False,
         "properties": {"rules": {"type": "array", "items": RULE}}}, errors=())},
    "/v1/presentation/rules/products/{product_id}": _rule_paths(PRODUCT_PARAM, "a product"),
    "/v1/presentation/rules/categories/{category}": _rule_paths(CATEGORY_PARAM, "a category"),
}


@bp.get("/rules")
@require_scope("items")
def list_rules():
    return jsonify(rules=rules.all_rules())


@bp.put("/rules/products/<product_id>")
@bp.put("/rules/categories/<category>")
@require_scope("items")
def put_rule(product_id: str | None = None, category: str | None = None):
    scope, value = _target(product_id, category)
    return jsonify(rules.save_rule(scope, value, _switch()))


@bp.delete("/rules/products/<product_id>")
@bp.delete("/rules/categories/<category>")
@require_scope("items")
def delete_rule(product_id: str | None = None, category: str | None = None):
    rules.remove_rule(*_target(product_id, category))
    return "", 204


def _target(product_id: str | None, category: str | None) -> tuple[str, str]:
    """(scope, checked value) of a rule's URL: a product id by the id rule, or a category text."""
    return (rules.PRODUCT, product_sku(product_id)) if product_id is not None else (rules.CATEGORY, _category(category))


def _category(raw: str) -> str:
    problem = rules.category_problem(raw)
    if problem:
        raise bad_request("category", raw, problem)
    return raw


def _switch() -> bool:
    body = json_body()
    if not isinstance(body, dict) or set(body) != {"variants"}:
        raise bad_request("body", body, 'a JSON object {"variants": "off"} or {"variants": "on"}, no other field')
    if not isinstance(body["variants"], str) or body["variants"] not in SWITCH:
        raise bad_request("variants", body["variants"], '"off" or "on"')
    return SWITCH[body["variants"]]
