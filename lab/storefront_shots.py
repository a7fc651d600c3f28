"""`tailorcard storefront-shots`: screenshots of the demo storefront for the README: two shoppers of different taste
segments whose grids share a product, each grid with its scenes ready, side by side, and the shared product's two
cards next to its own photo.

Runs against a serving instance (`tailorcard serve`), through its API and Debian's Chromium (Playwright).
"""
from __future__ import annotations

import io
import json
import shutil
import time
import urllib.request
from pathlib import Path

from PIL import Image, ImageDraw

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def get(url: str, key: str):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
        return json.loads(body) if response.headers.get_content_type() == "application/json" else body


def shoppers_sharing_a_product(base: str, key: str, n: int = 12) -> tuple[str, str, str]:
    """Two shoppers of different segments whose first n cards share a product with a photo, and that product."""
    users = [u["user_id"] for u in get(f"{base}/v1/users?limit=30", key)["users"]]  # each asks for its images
    grids = {user: get(f"{base}/v1/users/{user}/cards?n={n}", key) for user in users}
    for a in users:
        for b in users:
            if grids[a]["segment"] == grids[b]["segment"]:
                continue
            shared = [c["product"]["id"] for c in grids[a]["cards"] if c["image_url"]]
            shared = [p for p in shared if p in {c["product"]["id"] for c in grids[b]["cards"]}]
            if shared:
                return a, b, shared[0]
    raise RuntimeError("no two shoppers of different segments share a product in their first cards")


def wait_for_scene(base: str, key: str, user: str, product: str, n: int = 12, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        card = next(c for c in get(f"{base}/v1/users/{user}/cards?n={n}", key)["cards"] if c["product"]["id"] == product)
        if card["variant"] and card["variant"]["ai_generated"]:
            return card
        time.sleep(3)
    raise RuntimeError(f"no scene for {product} and {user} within {timeout:.0f} s (is the worker running?)")


def take_shots(base: str, key: str, out_dir: Path, n: int = 12) -> dict:
    from playwright.sync_api import sync_playwright
    a, b, product = shoppers_sharing_a_product(base, key, n)
    cards = {user: wait_for_scene(base, key, user, product, n) for user in (a, b)}
    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 900, "height": 1100})
        page.goto(base + "/")
        for user in (a, b):
            page.wait_for_selector("#shopper option", state="attached")
            page.select_option("#shopper", user)
            page.wait_for_function(f"document.getElementById('grid').dataset.user === {user!r}")
            page.wait_for_selector(f"#grid .card[data-item-id='{product}'] .badge", timeout=60_000)
            page.wait_for_timeout(1500)  # images finish loading
            shots.append(Image.open(io.BytesIO(page.screenshot(full_page=True))))
        browser.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    side = Image.new("RGB", (sum(s.width for s in shots) + 20, max(s.height for s in shots)), "white")
    side.paste(shots[0], (0, 0))
    side.paste(shots[1], (shots[0].width + 20, 0))
    side.save(out_dir / "storefront.png", optimize=True)
    _same_product(base, key, product, cards, (a, b)).save(out_dir / "same-product.png", optimize=True)
    return {"shoppers": [a, b], "segments": [cards_segment(base, key, u) for u in (a, b)], "product": product,
            "files": [str(out_dir / "storefront.png"), str(out_dir / "same-product.png")]}


def cards_segment(base: str, key: str, user: str):
    return get(f"{base}/v1/users/{user}/cards?n=1", key)["segment"]


def _same_product(base: str, key: str, product: str, cards: dict, users) -> Image.Image:
    """The product's own photo (at its size, and enlarged as the cards are) and its card for each shopper."""
    photo = Image.open(io.BytesIO(get(f"{base}/v1/items/{product}/image", key))).convert("RGB")
    scenes = [Image.open(io.BytesIO(get(base + cards[user]["image_url"], key))).convert("RGB") for user in users]
    width, height = scenes[0].size
    sheet = Image.new("RGB", (width * 3 + 40, height + 30), "white")
    sheet.paste(photo.resize((width, height), Image.NEAREST), (0, 30))
    for i, scene in enumerate(scenes):
        sheet.paste(scene, ((i + 1) * (width + 20), 30))
    draw = ImageDraw.Draw(sheet)
    labels = ["the uploaded photo (enlarged, nearest)"] + [f"{u}: segment {cards[u]['variant']['segment']}" for u in users]
    for i, label in enumerate(labels):
        draw.text((i * (width + 20) + 4, 8), label, fill="black")
    return sheet
