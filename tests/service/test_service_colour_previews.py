"""Colour previews through the API: the colours a product comes in, its photo in one of them (PNG, labelled,
cached by ETag), the refusals, the cards that carry them and the demo page that shows them."""
from __future__ import annotations

import io

import numpy as np
import pytest
from matte_helpers import ellipse_alpha, studio_photo
from PIL import Image
from service_helpers import auth

from imagegen.colour import delta_e, srgb_to_lab
from imagegen.provenance import ALGORITHMICALLY_ENHANCED, read_digital_source_type, read_provenance
from service import colour_previews

ADMIN, STOREFRONT = auth("admin"), auth("storefront")
NAVY_BLUE = (31, 42, 68)  # features.colours' Navy Blue


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def studio_png(colour=(200, 40, 40)) -> bytes:
    return png(studio_photo(ellipse_alpha(), colour))


def put(client, item_id: str, image: bytes | None, **fields):
    data = {"title": f"product {item_id}", **fields, **({"image": (io.BytesIO(image), "photo.png")} if image else {})}
    return client.put(f"/v1/items/{item_id}", data=data, headers=ADMIN, content_type="multipart/form-data")


@pytest.fixture
def red_shirt(client) -> str:
    assert put(client, "SHIRT-1", studio_png(), colours="Navy Blue|Black|Multi").status_code == 200
    return "SHIRT-1"


def test_the_colours_a_product_comes_in_each_with_its_preview(client, red_shirt):
    listed = client.get(f"/v1/items/{red_shirt}/colours", headers=STOREFRONT)
    assert listed.status_code == 200 and listed.json["id"] == red_shirt
    colours = listed.json["colours"]
    assert [c["name"] for c in colours] == ["Navy Blue", "Black", "Multi"]
    assert colours[0] == {"name": "Navy Blue", "hex": "#1f2a44", "reason": None, "label": "Colour preview: Navy Blue",
                          "preview_url": f"/v1/items/{red_shirt}/colours/navy-blue"}
    assert colours[2]["preview_url"] is None and colours[2]["label"] is None
    assert "'Multi' names several colours" in colours[2]["reason"]
    assert client.get(f"/v1/items/{red_shirt}/colours").status_code == 401  # the list needs a key; the PNG does not


def test_a_listed_colour_is_a_labelled_png_at_card_size(client, red_shirt):
    served = client.get(f"/v1/items/{red_shirt}/colours/navy-blue")
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.headers["X-Colour-Preview"] == "Navy Blue" and served.headers["X-AI-Generated"] == "false"
    assert served.headers["ETag"] and "public" in served.headers["Cache-Control"]
    preview = np.asarray(Image.open(io.BytesIO(served.data)).convert("RGB"))
    assert preview.shape == (320, 240, 3)  # the 60 x 80 upload enlarged to card size, as its card shows it
    centre = np.median(srgb_to_lab(preview[200:260, 90:150].reshape(-1, 3)), axis=0)  # below the stripe
    assert delta_e(centre, srgb_to_lab(np.asarray(NAVY_BLUE, dtype=np.uint8))) < 3  # red became navy
    assert np.array_equal(preview[:20], np.asarray(Image.open(io.BytesIO(  # the backdrop is the card photo's own
        client.get(f"/v1/items/{red_shirt}/image?size=card").data)).convert("RGB"))[:20])
    record = read_provenance(served.data)
    assert record.label == "Colour preview: Navy Blue" and record.parameters["colour"] == "Navy Blue"
    assert read_digital_source_type(served.data) == ALGORITHMICALLY_ENHANCED
    by_name = client.get(f"/v1/items/{red_shirt}/colours/Navy%20Blue")
    assert by_name.status_code == 200 and by_name.data == served.data


def test_a_current_copy_is_answered_304_and_a_changed_photo_gets_a_new_etag(client, red_shirt, monkeypatch):
    etag = client.get(f"/v1/items/{red_shirt}/colours/black").headers["ETag"]
    made = []
    monkeypatch.setattr(colour_previews, "_made", lambda row, colour: made.append(colour) or b"")
    assert client.get(f"/v1/items/{red_shirt}/colours/black", headers={"If-None-Match": etag}).status_code == 304
    assert made == []  # nothing was made (nor read) for the browser's current copy
    monkeypatch.undo()
    put(client, red_shirt, studio_png((40, 160, 60)), colours="Navy Blue|Black|Multi")
    changed = client.get(f"/v1/items/{red_shirt}/colours/black", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_a_colour_the_row_does_not_list_is_a_404_naming_those_it_does(client, red_shirt):
    missing = client.get(f"/v1/items/{red_shirt}/colours/red")
    assert missing.status_code == 404 and missing.json["error"] == "not_found"
    assert missing.json["message"] == ("product 'SHIRT-1' does not come in 'red'; the colours it comes in: "
                                       "Navy Blue, Black, Multi")


def test_no_single_colour_and_a_text_only_product_are_refused_with_the_reason(client, red_shirt):
    multi = client.get(f"/v1/items/{red_shirt}/colours/multi")
    assert multi.status_code == 422 and multi.json["error"] == "no_colour_preview"
    assert "'Multi' names several colours" in multi.json["message"]
    assert put(client, "NOTE-1", None, colours="Teal").status_code == 200
    listed = client.get("/v1/items/NOTE-1/colours", headers=ADMIN).json["colours"]
    assert listed[0]["preview_url"] is None and listed[0]["reason"] == "a text-only product has no photo to preview"
    assert client.get("/v1/items/NOTE-1/colours/teal").status_code == 422


def test_a_photo_without_a_trusted_matte_is_refused_never_recoloured(client, monkeypatch):
    alpha = ellipse_alpha()[..., None]
    busy = np.random.default_rng(1).integers(0, 256, (80, 60, 3))  # no plain backdrop for a pseudo-mask
    photo = (alpha * np.asarray((200, 40, 40)) + (1 - alpha) * busy).astype(np.uint8)
    assert put(client, "BUSY-1", png(photo), colours="Navy Blue").status_code == 200
    monkeypatch.setattr(colour_previews, "matte_model", lambda: None)  # as on an install without the trained matte
    refused = client.get("/v1/items/BUSY-1/colours/navy-blue")
    assert refused.status_code == 422 and refused.json["error"] == "no_colour_preview"
    assert refused.json["message"].startswith("no colour preview of this photo: no trained matte installed, and the "
                                              "backdrop is not plain")


def test_a_product_without_colours_has_none(client):
    item_id = client.get("/v1/users/u1/cards?n=1", headers=STOREFRONT).json["cards"][0]["product"]["id"]
    assert client.get(f"/v1/items/{item_id}/colours", headers=ADMIN).json == {"id": item_id, "colours": []}
    none = client.get(f"/v1/items/{item_id}/colours/black")
    assert none.status_code == 404 and none.json["message"].endswith("the colours it comes in: none: its row lists "
                                                                     "no colours")
    assert client.get("/v1/items/NO-SUCH-ITEM/colours", headers=ADMIN).status_code == 404


def test_colours_that_cannot_be_read_are_refused_at_the_door(client):
    refused = put(client, "SHIRT-2", studio_png(), colours="Navy Blue|Periwinkle")
    assert refused.status_code == 400
    assert refused.json["message"].startswith("colours: 'Periwinkle' in 'Navy Blue|Periwinkle' is not a colour name")
    patched = client.patch("/v1/items/SHIRT-2", json={"colors": "Forest:#22"}, headers=ADMIN)
    assert patched.status_code == 404  # no such product yet: the product is found first
    assert put(client, "SHIRT-2", studio_png(), colours="Red").status_code == 200
    patched = client.patch("/v1/items/SHIRT-2", json={"colors": "Forest:#22", "colours": None}, headers=ADMIN)
    assert patched.status_code == 400 and "gives '#22' as its hex code" in patched.json["message"]


def test_cards_carry_the_colours_and_keep_the_products_own_image(client):
    before = client.get("/v1/users/u1/cards?n=6", headers=STOREFRONT).json["cards"]
    assert not any("colours" in card for card in before)  # the sample catalogue lists no colours
    item_id = before[0]["product"]["id"]
    assert client.patch(f"/v1/items/{item_id}", json={"colours": "Navy Blue|Off White"}, headers=ADMIN).status_code == 200
    cards = {card["product"]["id"]: card for card in client.get("/v1/users/u1/cards?n=40", headers=STOREFRONT).json["cards"]}
    card = cards[item_id]
    assert [c["name"] for c in card["colours"]] == ["Navy Blue", "Off White"]
    assert card["colours"][1]["preview_url"] == f"/v1/items/{item_id}/colours/off-white"
    assert "/colours/" not in card["image_url"]  # the default image never changes colour
    assert all("colours" not in other for key, other in cards.items() if key != item_id)


def test_the_demo_page_shows_swatches_labelled_as_previews(client):
    page = client.get("/").get_data(as_text=True)
    assert "Colour preview" in page and "storefront.js" in page
    script = client.get("/static/storefront.js").get_data(as_text=True)
    assert "card.colours" in script and "colour.label" in script and "stopPropagation" in script
