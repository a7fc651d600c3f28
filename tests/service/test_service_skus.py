"""A store's own product ids (SKUs such as APL-001) work everywhere a product id goes, written as given."""
from __future__ import annotations

import io
import time

import sqlalchemy as sa
from PIL import Image
from service_helpers import auth

from features.ids import product_key
from service.db import products

ADMIN, STOREFRONT = auth("admin"), auth("storefront")


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 60), (30, 160, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_sku_round_trips_through_items_events_cards_and_explanations(client):
    created = client.put("/v1/items/APL-001", data={"title": "Green apple", "image": (io.BytesIO(photo()), "a.png")},
                         headers=ADMIN, content_type="multipart/form-data")
    assert created.status_code == 200 and created.json["id"] == "APL-001"
    assert client.get("/v1/items/APL-001", headers=ADMIN).json["id"] == "APL-001"
    assert client.get("/v1/items/APL-001/image").status_code == 200
    events = [{"event_id": f"apple-{i}", "user_id": "apple-fan", "item_id": "APL-001", "type": "like",
               "timestamp": time.time() + i} for i in range(3)]
    assert client.post("/v1/events", json=events, headers=STOREFRONT).status_code == 202
    response = client.get("/v1/users/apple-fan/cards?n=40", headers=STOREFRONT)
    assert response.status_code == 200, response.json
    cards = response.json["cards"]
    because = [reason for card in cards for reason in card["explanation"] if "item_id" in reason]
    assert because and {reason["item_id"] for reason in because} == {"APL-001"}  # said as the store wrote it
    assert client.patch("/v1/items/APL-001", json={"title": "Crisp green apple"}, headers=ADMIN).json["id"] == "APL-001"
    assert client.delete("/v1/items/APL-001", headers=ADMIN).status_code == 204
    assert client.get("/v1/items/APL-001", headers=ADMIN).status_code == 404


def test_a_product_stored_before_skus_keeps_its_number_as_its_id(app, client):
    """Rows written by an older version have no sku: their id is their key's digits, as it always was."""
    key = client.get("/v1/users/anyone/cards?n=1", headers=STOREFRONT).json["cards"][0]["product"]["id"]
    with app.extensions["tailorcard"].db.begin() as connection:
        connection.execute(products.update().where(products.c.product_id == product_key(key)).values(sku=None))
    assert client.get(f"/v1/items/{key}", headers=ADMIN).json["id"] == key
