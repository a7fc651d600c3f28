"""Catalogue validation: every bad row is named, nothing is dropped silently."""
import io

import pandas as pd
import pytest
from PIL import Image

from features.catalogue import load_catalogue
from features.errors import CatalogueError


def _edit(folder, change):
    frame = pd.read_csv(folder / "catalogue.csv", dtype=str, keep_default_na=False)
    change(frame)
    frame.to_csv(folder / "catalogue.csv", index=False)
    return frame


def test_loads_every_row_with_integer_ids(sample_catalogue):
    assert len(sample_catalogue) == 40
    assert sample_catalogue.products.index.dtype == "int64"
    assert {"articleType", "baseColour"} <= set(sample_catalogue.attribute_columns)


def test_parquet_loads_the_same_products(sample_catalogue_dir):
    frame = pd.read_csv(sample_catalogue_dir / "catalogue.csv", dtype=str, keep_default_na=False)
    frame.to_parquet(sample_catalogue_dir / "products.parquet")
    assert load_catalogue(sample_catalogue_dir / "products.parquet").ids == load_catalogue(sample_catalogue_dir).ids


def test_missing_columns_are_named(sample_catalogue_dir):
    _edit(sample_catalogue_dir, lambda f: f.pop("title"))
    with pytest.raises(CatalogueError, match=r"missing required column\(s\) \['title'\]"):
        load_catalogue(sample_catalogue_dir)


def test_duplicate_ids_and_empty_titles_name_their_lines(sample_catalogue_dir):
    def change(frame):
        frame.loc[3, "product_id"] = frame.loc[2, "product_id"]
        frame.loc[5, "title"] = "   "
    _edit(sample_catalogue_dir, change)
    with pytest.raises(CatalogueError) as error:
        load_catalogue(sample_catalogue_dir)
    assert "lines 4, 5: duplicate product_id" in str(error.value)
    assert "line 7" in str(error.value) and "empty title" in str(error.value)
    assert len(error.value.problems) == 2


def test_ids_breaking_the_id_rule_are_named(sample_catalogue_dir):
    bad = {0: "a b", 1: "", 2: "x" * 129, 3: "-leading-dash"}
    _edit(sample_catalogue_dir, lambda f: f.__setitem__("product_id", [bad.get(i, v) for i, v in f["product_id"].items()]))
    with pytest.raises(CatalogueError) as error:
        load_catalogue(sample_catalogue_dir)
    problems = error.value.problems
    assert len(problems) == 4 and problems[0] == "line 3: empty product_id"
    assert "line 2: product_id 'a b' is not an id (1-128 characters" in problems[1]
    assert problems[2].startswith("line 4: product_id 'xxx") and "(129 characters)" in problems[2]  # the id's, not its repr's
    assert problems[3].startswith("line 5: product_id '-leading-dash' is not an id")


def test_missing_unreadable_and_bomb_images_are_named(sample_catalogue_dir):
    frame = pd.read_csv(sample_catalogue_dir / "catalogue.csv", dtype=str, keep_default_na=False)
    (sample_catalogue_dir / frame.loc[0, "image"]).unlink()
    (sample_catalogue_dir / frame.loc[1, "image"]).write_bytes(b"not an image at all")
    bomb = io.BytesIO()
    Image.new("1", (6000, 6000)).save(bomb, "PNG")  # 36 Mpx in a few KB
    (sample_catalogue_dir / frame.loc[2, "image"]).write_bytes(bomb.getvalue())
    with pytest.raises(CatalogueError) as error:
        load_catalogue(sample_catalogue_dir)
    text = str(error.value)
    assert f"product {frame.loc[0, 'product_id']}" in text and "image file not found" in text
    assert f"product {frame.loc[1, 'product_id']}" in text and "not a readable image" in text
    assert f"product {frame.loc[2, 'product_id']}" in text and "6000x6000" in text
    assert len(error.value.problems) == 3


def test_content_hash_changes_with_image_or_text(sample_catalogue_dir):
    before = load_catalogue(sample_catalogue_dir)
    first, second = before.ids[:2]
    hashes = {pid: before.content_hash(pid) for pid in (first, second)}
    Image.new("RGB", (60, 80), (200, 0, 0)).save(before.image_path(first), "JPEG")
    _edit(sample_catalogue_dir, lambda f: f.__setitem__("title", f["title"].where(f.index != 1, "A new title")))
    after = load_catalogue(sample_catalogue_dir)
    assert after.content_hash(first) != hashes[first]
    assert after.content_hash(second) != hashes[second]
    assert after.content_hash(after.ids[2]) == before.content_hash(before.ids[2])
