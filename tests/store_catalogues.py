"""Tiny catalogues of stores other than fashion, as their owners export them."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

# A grocery export: `;`-separated (commas in titles), string SKUs, a quoted `;`, a text-only row
# (OAT-55 has no image) and attributes no fashion code knows.
GROCERY_CSV = """\
product_id;title;description;image;brand;aisle
APL-001;Gala apples, 1 kg;Crisp sweet apples;images/apples.png;Orchard Co;fruit
BAN-002;Bananas, bunch of 6;Fairtrade;images/bananas.jpg;Sunny;fruit
MLK-010;Whole milk, 2 L;;images/milk.png;Dairy Fresh;dairy
BRD-7;Sourdough loaf;"Baked today; a crusty loaf";images/bread.png;Baker's;bakery
OAT-55;Rolled oats, 500 g;Wholegrain porridge oats;;Morning;cereal
"""
GROCERY_PHOTOS = {"apples.png": (200, 30, 30), "bananas.jpg": (230, 210, 40), "milk.png": (245, 245, 245),
                  "bread.png": (150, 100, 50)}


def write_grocery_catalogue(folder: Path) -> Path:
    """The grocery catalogue and its four photos in `folder`; returns the folder."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name, colour in GROCERY_PHOTOS.items():
        Image.new("RGB", (24, 32), colour).save(folder / "images" / name)
    (folder / "catalogue.csv").write_text(GROCERY_CSV, encoding="utf-8")
    return folder
