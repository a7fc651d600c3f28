"""Product changes: uploads checked by content, re-embedding, index updated in place, variants made stale."""
from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from service_helpers import auth, shopper_wanting_variants
from PIL import Image

from features.ids import product_key
from service import repository

ADMIN, STOREFRONT = auth("admin"), auth("storefront")


def png_bytes(colour=(200, 30, 30), size=(40, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width=100_000, height=100_000) -> bytes:
    """A PNG whose header claims 10 gigapixels: refused before any pixel is decoded."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def put(client, item_id, image: bytes | None, **fields):
    data = {**fields, **({"image": (io.BytesIO(image), "photo.bin")} if image is not None else {})}
    return client.put(f"/v1/items/{item_id}", data=data, headers=ADMIN, content_type="multipart/form-data")


def card_ids(client, user_id, n=12):
    return [c["product"]["id"] for c in client.get(f"/v1/users/{user_id}/cards?n={n}", headers=STOREFRONT).json["cards"]]


def test_get_item_and_its_photo(client):
    item_id = card_ids(client, "u1", 1)[0]
    item = client.get(f"/v1/items/{item_id}", headers=ADMIN).json
    assert item["id"] == item_id and item["title"] and item["in_stock"] is True
    photo = client.get(f"/v1/items/{item_id}/image")
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg" and photo.headers["ETag"].strip('"') == item["content_hash"]
    assert client.get(f"/v1/items/{item_id}/image", headers={"If-None-Match": photo.headers["ETag"]}).status_code == 304
    assert client.get("/v1/items/123456789/image").status_code == 404


def test_cards_photo_is_the_upload_enlarged_to_card_size_and_nothing_else(client):
    item_id = card_ids(client, "u1", 1)[0]
    upload = Image.open(io.BytesIO(client.get(f"/v1/items/{item_id}/image").data)).convert("RGB")
    served = client.get(f"/v1/items/{item_id}/image?size=card")
    card = Image.open(io.BytesIO(served.data))
    assert served.status_code == 200 and served.mimetype == "image/png" and max(card.size) >= 240
    assert card.size[0] * upload.size[1] == card.size[1] * upload.size[0]  # the aspect is kept
    assert np.array_equal(np.asarray(card), np.asarray(upload.resize(card.size, Image.BICUBIC)))  # plain bicubic
    etag = served.headers["ETag"]
    assert etag != client.get(f"/v1/items/{item_id}/image").headers["ETag"]  # another representation
    assert client.get(f"/v1/items/{item_id}/image?size=card", headers={"If-None-Match": etag}).status_code == 304
    refused = client.get(f"/v1/items/{item_id}/image?size=huge")
    assert refused.status_code == 400 and refused.json["message"].startswith("size:")


def test_the_card_size_copy_is_encoded_once_until_the_photo_changes(client, monkeypatch):
    from service import catalogue_changes
    item_id, encodes, made = card_ids(client, "u1", 1)[0], [], io.BytesIO()
    Image.new("RGB", (240, 320), (20, 30, 200)).save(made, format="PNG")
    monkeypatch.setattr(catalogue_changes, "plain_card_png", lambda image: encodes.append(1) or made.getvalue())
    assert [client.get(f"/v1/items/{item_id}/image?size=card").data for _ in range(3)] == [made.getvalue()] * 3
    assert len(encodes) == 1
    replaced = put(client, item_id, png_bytes(), title="Red")
    assert replaced.status_code == 200, replaced.json
    client.get(f"/v1/items/{item_id}/image?size=card")
    assert len(encodes) == 2  # a new photo is a new content hash: made again


def test_a_cached_photo_is_answered_without_reading_it(client, monkeypatch):
    item_id = card_ids(client, "u1", 1)[0]
    etag = client.get(f"/v1/items/{item_id}/image").headers["ETag"]
    reads, get_product = [], repository.get_product  # with_image of each product read

    def recorded(connection, product_id, with_image=False):
        reads.append(with_image)
        return get_product(connection, product_id, with_image)

    monkeypatch.setattr(repository, "get_product", recorded)
    assert client.get(f"/v1/items/{item_id}/image", headers={"If-None-Match": etag}).status_code == 304
    assert reads == [False]  # its content hash only
    changed = client.get(f"/v1/items/{item_id}/image", headers={"If-None-Match": '"older-photo"'})
    assert changed.status_code == 200 and changed.headers["ETag"] == etag and reads[-1] is True
    assert client.get("/v1/items/123456789/image", headers={"If-None-Match": etag}).status_code == 404


def test_a_new_product_reaches_the_next_cards(client):
    """A new product with the photo of a product X that a shopper likes ranks beside X at once, or above it: it is
    a new arrival for this shopper (recsys.freshness)."""
    liked = card_ids(client, "someone", 40)[-1]
    photo = client.get(f"/v1/items/{liked}/image").data
    client.post("/v1/events", headers=STOREFRONT, json=[
        {"event_id": f"l-{i}", "user_id": "fan", "item_id": liked, "type": "like", "timestamp": 1.9e9 + i} for i in range(3)])
    assert "777" not in card_ids(client, "fan", 40)
    created = put(client, 777, photo, title="Twin of a liked product", articleType="Tshirts", baseColour="Red")
    assert created.status_code == 200 and created.json["attributes"] == {"articleType": "Tshirts", "baseColour": "Red"}
    ranked = card_ids(client, "fan", 41)
    assert ranked.index("777") <= ranked.index(liked) + 1


@pytest.mark.parametrize("image, fields, field", [
    (b"%PDF-1.4 not an image", {"title": "x"}, "not a readable image"),
    (bomb_png(), {"title": "x"}, "decompression bomb"),
    (bomb_png(6000, 6000), {"title": "x"}, "pixels; the limit is"),
    (png_bytes(), {}, "title:"),
    (png_bytes(), {"title": "x", "product_id": "9"}, "field name:"),  # reserved, not an attribute
    (png_bytes(), {"title": "x", "9lives": "yes"}, "field name:"),  # an attribute name starts with a letter
    (png_bytes(), {"title": "x", "description": "d" * 5001}, "description:"),
    (png_bytes(), {"title": "x", "in_stock": "maybe"}, "in_stock:"),
])
def test_bad_uploads_store_nothing(client, image, fields, field):
    response = put(client, 4242, image, **fields)
    assert response.status_code == 400 and field in response.json["message"], response.json
    assert client.get("/v1/items/4242", headers=ADMIN).status_code == 404


def test_patch_re_embeds_makes_variants_stale_and_queues_regeneration(app, client):
    user, _ = shopper_wanting_variants(app, 1)
    item_id = card_ids(client, user, 1)[0]
    queue, store = app.extensions["tailorcard"].jobs, app.extensions["tailorcard"].variants
    queue.run_pending()
    old_hash = client.get(f"/v1/items/{item_id}", headers=ADMIN).json["content_hash"]
    made = [key for key in store.records if key[0] == product_key(item_id)]
    assert len(made) == 2, "the card's scene and its photo at card size should have been made"
    patched = client.patch(f"/v1/items/{item_id}", json={"title": "Renamed"}, headers=ADMIN)
    assert patched.status_code == 200 and patched.json["title"] == "Renamed"
    new_hash = patched.json["content_hash"]
    assert new_hash != old_hash and not any(key[0] == product_key(item_id) for key in store.records)
    for _, _, segment, policy_digest in made:
        assert queue.status(f"variant:{product_key(item_id)}:{new_hash}:{segment}:{policy_digest}")["status"] == \
            "queued"
    card = client.get(f"/v1/users/{user}/cards?n=1", headers=STOREFRONT).json["cards"][0]
    assert card["product"]["id"] == item_id and card["variant"] is None  # the original until regenerated
    queue.run_pending()
    assert client.get(f"/v1/users/{user}/cards?n=1", headers=STOREFRONT).json["cards"][0]["variant"]["provenance"][
        "source_product_hash"] == new_hash


def test_a_merchant_switching_scenes_off_for_a_category_leaves_its_photo_at_card_size(app, client):
    user, _ = shopper_wanting_variants(app, 1)
    item_id = card_ids(client, user, 1)[0]
    category = client.get(f"/v1/items/{item_id}", headers=ADMIN).json["attributes"]["articleType"]
    assert client.put(f"/v1/presentation/rules/categories/{category}", json={"variants": "off"},
                      headers=ADMIN).status_code == 200
    app.extensions["tailorcard"].jobs.run_pending()  # whatever was asked for before
    client.get(f"/v1/users/{user}/cards?n=1", headers=STOREFRONT)
    app.extensions["tailorcard"].jobs.run_pending()
    card = client.get(f"/v1/users/{user}/cards?n=1", headers=STOREFRONT).json["cards"][0]
    assert card["product"]["id"] == item_id
    assert card["variant"]["ai_generated"] is False and card["variant"]["segment"] == "all"


def test_out_of_stock_and_deleted_products_leave_the_cards(client):
    first, second = card_ids(client, "u1", 2)
    assert client.patch(f"/v1/items/{first}", json={"in_stock": False}, headers=ADMIN).status_code == 200
    assert first not in card_ids(client, "u1")
    assert client.delete(f"/v1/items/{second}", headers=ADMIN).status_code == 204
    assert second not in card_ids(client, "u1")
    assert client.get(f"/v1/items/{second}", headers=ADMIN).status_code == 404
    assert client.delete(f"/v1/items/{second}", headers=ADMIN).status_code == 404
    assert client.patch("/v1/items/31337", json={"title": "x"}, headers=ADMIN).status_code == 404


def test_any_store_attributes_and_a_text_only_product(client):
    """A grocer's product: attributes of its own names, no photo (embedded from its text), removable attributes."""
    created = put(client, "OAT-55", None, title="Rolled oats, 500 g", description="Wholegrain, for porridge",
                  brand="Morning", aisle="cereal")
    assert created.status_code == 200, created.json
    assert created.json["attributes"] == {"brand": "Morning", "aisle": "cereal"} and created.json["has_photo"] is False
    assert client.get("/v1/items/OAT-55/image").status_code == 404
    patched = client.patch("/v1/items/OAT-55", json={"aisle": None, "organic": "yes"}, headers=ADMIN)
    assert patched.json["attributes"] == {"brand": "Morning", "organic": "yes"}
    now = time.time()
    events = [{"event_id": f"oat-{i}", "user_id": "porridge-fan", "item_id": "OAT-55", "type": "like",
               "timestamp": now + i} for i in range(2)]
    assert client.post("/v1/events", json=events, headers=STOREFRONT).status_code == 202
    cards = client.get("/v1/users/porridge-fan/cards?n=41", headers=STOREFRONT).json["cards"]
    oats = [card for card in cards if card["product"]["id"] == "OAT-55"]
    assert len(oats) == 1 and oats[0]["image_url"] is None and oats[0]["variant"] is None


def test_a_text_only_product_can_be_put_as_json_and_numbers_are_stored_as_attribute_text(client):
    """A JSON PUT once read no field ("title: got None") though PATCH takes JSON; a number was refused as "not text"
    though a catalogue file's number cell is stored as its text."""
    created = client.put("/v1/items/JAM-3", json={"title": "Strawberry jam", "weight": 340, "sugar": 52.5},
                         headers=ADMIN)
    assert created.status_code == 200, created.json
    assert created.json["attributes"] == {"weight": "340", "sugar": "52.5"} and created.json["has_photo"] is False
    assert client.patch("/v1/items/JAM-3", json={"weight": 250}, headers=ADMIN).json["attributes"]["weight"] == "250"
    untitled = client.put("/v1/items/JAM-4", json={"weight": 1}, headers=ADMIN)
    assert untitled.status_code == 400 and "title: got None; expected a non-empty product title" in untitled.json["message"]
    flagged = client.put("/v1/items/JAM-5", json={"title": "Jam", "vegan": True}, headers=ADMIN)
    assert flagged.status_code == 400 and "vegan" in flagged.json["message"]  # true is no text and no number
