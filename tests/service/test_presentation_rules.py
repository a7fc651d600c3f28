"""The merchant's switch for AI-generated backgrounds: the API, the precedence of rules and the per-process cache."""
from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from service_helpers import auth

from features.categories import normalize_category, product_categories
from features.ids import product_key
from service import db
from service.presentation_rules import NO_RULES, RulesCache, RulesSnapshot, rules_snapshot, set_rule, variants_allowed

ADMIN, STOREFRONT = auth("admin"), auth("storefront")
RULES = "/v1/presentation/rules"


def put(client, path: str, variants: str = "off", headers=ADMIN):
    return client.put(f"{RULES}/{path}", json={"variants": variants}, headers=headers)


def test_rules_are_put_listed_and_deleted(client):
    assert client.get(RULES, headers=ADMIN).json == {"rules": []}
    response = put(client, "products/APL-001")
    assert response.status_code == 200
    assert response.json | {"updated_at": 0} == {"scope": "product", "value": "APL-001", "variants": "off",
                                                  "updated_at": 0}
    assert put(client, "categories/  Home%20%20Decor ", "on").json["value"] == "home decor"
    assert put(client, "products/APL-001", "on").json["variants"] == "on"  # replaced, not added
    listed = client.get(RULES, headers=ADMIN).json["rules"]
    assert [(r["scope"], r["value"], r["variants"]) for r in listed] == [
        ("product", "APL-001", "on"), ("category", "home decor", "on")]
    assert client.delete(f"{RULES}/products/APL-001", headers=ADMIN).status_code == 204
    assert client.delete(f"{RULES}/categories/HOME%20DECOR", headers=ADMIN).status_code == 204  # any case
    assert client.get(RULES, headers=ADMIN).json == {"rules": []}
    gone = client.delete(f"{RULES}/products/APL-001", headers=ADMIN)
    assert gone.status_code == 404 and gone.json == {"error": "not_found", "message": "no product rule for 'APL-001'"}


def test_bad_ids_and_bodies_are_refused_with_what_is_wrong(client):
    for path, field in [("products/bad%20id!", "product id"), ("products/-APL", "product id"),
                        (f"products/{'a' * 129}", "product id"), ("categories/%20%20", "category"),
                        ("categories/shoes%00", "category"), (f"categories/{'c' * 301}", "category")]:
        response = put(client, path)
        assert response.status_code == 400, path
        assert response.json["error"] == "bad_request" and response.json["message"].startswith(f"{field}: got ")
    for body, field in [({"variants": "OFF"}, "variants"), ({"variants": True}, "variants"), ({}, "body"),
                        ({"variants": "off", "extra": 1}, "body"), (["off"], "body")]:
        response = client.put(f"{RULES}/products/APL-001", json=body, headers=ADMIN)
        assert response.status_code == 400 and response.json["message"].startswith(f"{field}: got "), body
    text = client.put(f"{RULES}/products/APL-001", data="variants=off", headers=ADMIN)
    assert text.status_code == 415 and text.json["error"] == "unsupported_media_type"
    assert client.delete(f"{RULES}/products/bad%20id!", headers=ADMIN).status_code == 400
    assert client.get(RULES, headers=ADMIN).json == {"rules": []}  # nothing was stored


def test_an_admin_key_is_needed(client):
    for method, path in [("get", RULES), ("put", f"{RULES}/products/APL-001"),
                         ("delete", f"{RULES}/categories/shoes")]:
        anonymous = getattr(client, method)(path, json={"variants": "off"})
        assert anonymous.status_code == 401 and set(anonymous.json) == {"error", "message"}
        storefront = getattr(client, method)(path, json={"variants": "off"}, headers=STOREFRONT)
        assert storefront.status_code == 403 and "'items'" in storefront.json["message"]
    assert client.get(RULES, headers=ADMIN).json == {"rules": []}


def test_product_and_category_rules_decide_with_the_product_first():
    rules = RulesSnapshot(products={product_key("APL-001"): False, product_key("APL-002"): True, 15970: True},
                          categories={"shoes": True, "tshirts": False, "apparel > bags": True})
    assert variants_allowed(NO_RULES, "anything", "shoes") and variants_allowed(None, 1, None)
    assert not variants_allowed(rules, "APL-009", {"category": "Shoes"})  # a category switched off
    assert variants_allowed(rules, "APL-001", {"category": "Shoes"})  # its product switched on: that wins
    assert not variants_allowed(rules, "APL-002", {"category": "Hats"})  # a product switched off
    assert not variants_allowed(rules, 15970, None) and not variants_allowed(rules, "15970", None)  # key or id
    assert variants_allowed(rules, np.int64(product_key("APL-001")), "shoes")  # a hashed key, as numpy holds it
    assert variants_allowed(rules, "APL-009", {"category": "Hats"}) and variants_allowed(rules, "APL-009", None)
    # among categories "off" wins: Tshirts "on" does not undo Shoes "off"
    assert not variants_allowed(rules, "APL-009", {"articleType": "Tshirts", "masterCategory": "shoes"})
    assert variants_allowed(rules, "APL-009", {"articleType": "Tshirts"})
    assert not variants_allowed(rules, "APL-009", "  SHOES ") and not variants_allowed(rules, "x1", ["Hats", "Shoes"])
    # a breadcrumb: each level and each prefix
    assert not variants_allowed(rules, "APL-009", {"product_type": "Apparel > Bags > Totes"})
    assert not variants_allowed(rules, "APL-009", {"category": "Kids>Shoes"})
    assert variants_allowed(rules, "APL-009", {"category": "Bags"})
    # an attribute that is not a category never counts
    assert variants_allowed(rules, "APL-009", {"baseColour": "Shoes", "brand": "shoes"})


def test_a_products_categories_come_from_its_category_attributes():
    assert product_categories({"articleType": "Tshirts", "masterCategory": "Apparel", "subCategory": "Topwear",
                               "baseColour": "Blue"}) == ["tshirts", "apparel", "topwear"]
    assert product_categories({"Product Type": " Home   Decor ", "aisle": "fresh fruits", "Department": "produce"}) \
        == ["home decor", "fresh fruits", "produce"]
    assert product_categories({"category": "A > B > C"}) == ["a", "b", "c", "a > b", "a > b > c"]
    assert product_categories({}) == [] and product_categories(None) == []
    assert product_categories({"brand": "Acme", "category": ""}) == []
    assert normalize_category(" Apparel>Clothing ") == "apparel > clothing"


def test_a_catalogue_products_rule_reaches_variants_allowed(app, client):
    """Through the API, for a product of the seeded catalogue: the cached snapshot changes at once in this process."""
    with app.app_context():
        assert rules_snapshot() is rules_snapshot()  # cached
        assert not rules_snapshot().products and not rules_snapshot().categories
    item = client.get("/v1/users/u1/cards?n=1", headers=STOREFRONT).json["cards"][0]["product"]
    attributes = item["attributes"]
    category = next(value for name, value in attributes.items() if name in ("articleType", "category"))
    assert put(client, f"categories/{category}").status_code == 200
    with app.app_context():
        assert not variants_allowed(rules_snapshot(), item["id"], attributes)
    assert put(client, f"products/{item['id']}", "on").status_code == 200
    with app.app_context():
        assert variants_allowed(rules_snapshot(), item["id"], attributes)
        assert not variants_allowed(rules_snapshot(), "some-other-product", attributes)
    assert client.delete(f"{RULES}/products/{item['id']}", headers=ADMIN).status_code == 204
    with app.app_context():
        assert not variants_allowed(rules_snapshot(), item["id"], attributes)


def test_other_processes_see_a_rule_within_the_ttl(app):
    """A write by another worker (straight to the database here) shows once the cached snapshot expires."""
    engine = app.extensions["tailorcard"].db
    stale, fresh = RulesCache(engine, ttl=3600), RulesCache(engine, ttl=0)
    assert stale.snapshot() == NO_RULES and fresh.snapshot() == NO_RULES
    with engine.begin() as connection:
        set_rule(connection, "category", "Shoes", True)
    assert stale.snapshot() == NO_RULES  # still cached
    assert fresh.snapshot().categories == {"shoes": True}
    stale.invalidate()
    assert stale.snapshot().categories == {"shoes": True}


def test_an_older_database_gets_the_table(app):
    engine = app.extensions["tailorcard"].db
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE presentation_rules"))
    db.create_or_upgrade(engine)
    assert "presentation_rules" in sa.inspect(engine).get_table_names()
