"""End to end in real headless Chromium (Debian's `chromium`, driven by Playwright; no browser download):
pick a shopper, see the grid, click a card, the event is stored and the grid re-ranks; variants appear labelled."""
from __future__ import annotations

import shutil
import threading

import pytest
import sqlalchemy as sa
from service_helpers import FakeVariantStore, auth, make_app, shopper_wanting_variants
from werkzeug.serving import make_server

from service.db import events

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(apt-get install -y chromium); the browser test is skipped")


@pytest.fixture
def live_server(database_url, tiny_encoder):
    store = FakeVariantStore()
    app = make_app(database_url, tiny_encoder, JOB_QUEUE="thread", JOB_POLL_SECONDS=0.1, VARIANT_STORE=store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["tailorcard"].worker.stop()


def test_storefront_in_chromium(live_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[dev]')")
    app, url = live_server
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
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
        browser.close()
    assert (tmp_path / "storefront.png").stat().st_size > 1000
