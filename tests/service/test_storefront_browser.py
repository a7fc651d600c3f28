"""End to end in real headless Chromium (Debian's `chromium`, driven by Playwright; no browser download):
pick a shopper, see the grid, click a card, the event is stored and the grid re-ranks; variants appear labelled;
a colour swatch shows the colour preview, labelled, and the card's own image again."""
from __future__ import annotations

import shutil
import threading
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from service_helpers import FakeVariantStore, auth, make_app, shopper_wanting_variants
from werkzeug.serving import make_server

from service.db import events
from service.variants import NullVariantStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(apt-get install -y chromium); the browser test is skipped")


@contextmanager
def serving(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def live_server(database_url, tiny_encoder):
    store = FakeVariantStore()
    app = make_app(database_url, tiny_encoder, JOB_QUEUE="thread", JOB_POLL_SECONDS=0.1, VARIANT_STORE=store)
    with serving(app) as url:
        yield app, url
    app.extensions["tailorcard"].worker.stop()


@pytest.fixture
def photos_server(database_url, tiny_encoder):
    """Cards that keep the products' own photos (no variant store): nothing re-renders the grid under a test."""
    app = make_app(database_url, tiny_encoder, VARIANT_STORE=NullVariantStore())
    with serving(app) as url:
        yield app, url


@pytest.fixture
def chromium_page():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[dev]')")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser.new_page(viewport={"width": 1100, "height": 800})
        browser.close()


def test_storefront_in_chromium(live_server, chromium_page, tmp_path):
    app, url = live_server
    page = chromium_page
    page.goto(url + "/")
    page.wait_for_selector("#grid .card")
    assert page.locator("#grid .card").count() == 12
    assert "simulated" in page.locator("#shopper option").first.inner_text()
    shopper, _ = shopper_wanting_variants(app, 12)  # one with a taste segment, so scenes get made
    page.select_option("#shopper", shopper)
    page.wait_for_function(f"document.getElementById('grid').dataset.user === {shopper!r}")
    first = page.locator("#grid .card").first
    clicked = int(first.get_attribute("data-item-id"))
    first.click()
    page.wait_for_function("document.getElementById('grid').dataset.clicks === '1'")
    with app.extensions["tailorcard"].db.connect() as connection:
        stored = connection.execute(sa.select(events.c.type).where(
            events.c.user_id == shopper, events.c.item_id == clicked, ~events.c.simulated)).scalars().all()
    assert sorted(stored) == ["click", "view"]
    page.wait_for_selector("#grid .card .badge", timeout=20_000)  # variants appear as they are generated
    assert page.locator("#grid .card .badge").first.inner_text() == "AI-generated background"
    segment = app.test_client().get(f"/v1/users/{shopper}/cards?n=12", headers=auth("storefront")).json["segment"]
    assert page.locator("#status").inner_text().startswith(f"taste segment {segment}: backdrops painted for it")
    page.screenshot(path=str(tmp_path / "storefront.png"))
    assert (tmp_path / "storefront.png").stat().st_size > 1000


def previewed(client, card) -> bool:
    """List Navy Blue and Multi as the card's product's colours; whether its photo has a preview (a trusted matte)."""
    item_id = card["product"]["id"]
    assert client.patch(f"/v1/items/{item_id}", json={"colours": "Navy Blue|Multi"},
                        headers=auth("admin")).status_code == 200
    return client.get(f"/v1/items/{item_id}/colours/navy-blue").status_code == 200


def test_a_swatch_shows_the_colour_preview_labelled_in_chromium(photos_server, chromium_page):
    app, url = photos_server
    client = app.test_client()
    shopper = client.get("/v1/users?limit=30", headers=auth("storefront")).json["users"][0]["user_id"]
    cards = client.get(f"/v1/users/{shopper}/cards?n=12", headers=auth("storefront")).json["cards"]
    item_id = next(card["product"]["id"] for card in cards if card["image_url"] and previewed(client, card))
    page = chromium_page
    page.goto(url + "/")
    card = page.locator(f'#grid .card[data-item-id="{item_id}"]')
    card.locator(".swatch").first.wait_for()
    own_image = card.locator("img").get_attribute("src")
    assert card.locator(".swatch").count() == 2 and card.locator(".swatch").nth(1).is_disabled()  # Multi: none
    assert card.locator(".badge").count() == 0  # the card's own photo: nothing to label
    card.locator(".swatch").first.click()
    card.locator(".badge").wait_for()
    assert card.locator(".badge").inner_text() == "Colour preview: Navy Blue"
    assert card.locator("img").get_attribute("src").startswith("blob:")
    assert page.evaluate("document.getElementById('grid').dataset.clicks") is None  # not a click on the product
    card.locator(".swatch").first.click()  # again: the card's own image, unlabelled
    card.locator(".badge").wait_for(state="detached")
    assert card.locator("img").get_attribute("src") == own_image
