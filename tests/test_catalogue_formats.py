"""Catalogues as stores have them: string SKUs, any delimiter, JSON lines, text-only products, any attributes."""
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import features.catalogue
from features.catalogue import check_catalogue, load_catalogue
from features.errors import CatalogueError
from features.ids import product_key
from store_catalogues import GROCERY_CSV, write_grocery_catalogue

SKUS = ["APL-001", "BAN-002", "MLK-010", "BRD-7", "OAT-55"]


@pytest.fixture
def grocery(tmp_path):
    return write_grocery_catalogue(tmp_path / "grocery")


def _write(folder, name, text):
    (folder / "catalogue.csv").unlink()
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def test_a_grocery_catalogue_loads_with_its_skus_kept_as_text(grocery):
    catalogue = load_catalogue(grocery)
    assert catalogue.products.index.dtype == "int64"
    assert catalogue.ids == [product_key(sku) for sku in SKUS]
    assert catalogue.product_ids(catalogue.ids) == SKUS and catalogue.product_id(catalogue.ids[3]) == "BRD-7"
    assert catalogue.attribute_columns == ["brand", "aisle"]
    assert catalogue.products.at[catalogue.ids[3], "description"] == "Baked today; a crusty loaf"
    assert catalogue.text(catalogue.ids[0]) == "Gala apples, 1 kg"


def test_a_row_without_image_is_a_text_only_product(grocery):
    catalogue = load_catalogue(grocery)
    oats = product_key("OAT-55")
    assert catalogue.text_only_ids == [oats] and catalogue.photo_ids == catalogue.ids[:4]
    assert not catalogue.has_image(oats) and catalogue.has_image(catalogue.ids[0])
    assert catalogue.embedding_text(oats) == "Rolled oats, 500 g. Wholegrain porridge oats"
    with pytest.raises(CatalogueError, match="product OAT-55 has no photo"):
        catalogue.load_image(oats)
    assert catalogue.load_image(catalogue.ids[0]).size == (24, 32)


def test_text_only_content_hash_follows_its_text(grocery):
    before = load_catalogue(grocery)
    (grocery / "catalogue.csv").write_text(GROCERY_CSV.replace("Wholegrain porridge oats", "Jumbo oats"))
    after = load_catalogue(grocery)
    oats, apples = product_key("OAT-55"), product_key("APL-001")
    assert after.content_hash(oats) != before.content_hash(oats)
    assert after.content_hash(apples) == before.content_hash(apples)


def test_the_image_column_is_optional(grocery):
    frame = pd.read_csv(grocery / "catalogue.csv", sep=";", dtype=str, keep_default_na=False).drop(columns="image")
    frame.to_csv(grocery / "catalogue.csv", sep=";", index=False)
    catalogue = load_catalogue(grocery)
    assert len(catalogue.text_only_ids) == 5 and catalogue.photo_ids == []


@pytest.mark.parametrize("delimiter, name", [(",", "comma"), ("\t", "tab"), ("|", "'|'"), (";", "';'")])
def test_each_common_delimiter_is_found(grocery, delimiter, name):
    frame = pd.read_csv(grocery / "catalogue.csv", sep=";", dtype=str, keep_default_na=False)
    frame.to_csv(grocery / "catalogue.csv", sep=delimiter, index=False)
    check = check_catalogue(grocery)
    assert check.format == f"CSV, {name}-separated" and not check.problems
    assert check.catalogue().product_ids(check.catalogue().ids) == SKUS


def test_a_utf8_byte_order_mark_is_accepted_and_other_encodings_are_named(grocery):
    (grocery / "catalogue.csv").write_bytes(b"\xef\xbb\xbf" + GROCERY_CSV.encode())
    assert load_catalogue(grocery).product_ids(load_catalogue(grocery).ids) == SKUS
    (grocery / "catalogue.csv").write_bytes(GROCERY_CSV.replace("Baker's", "Boulangerie Caf\u00e9").encode("latin-1"))
    with pytest.raises(CatalogueError, match=r"not UTF-8 text \(byte 0xe9 on line 5\); save the file as UTF-8"):
        load_catalogue(grocery)


def test_a_row_with_the_wrong_number_of_values_is_named(grocery):
    (grocery / "catalogue.csv").write_text(GROCERY_CSV.replace('"Baked today; a crusty loaf"', "Baked today; a crusty loaf"))
    with pytest.raises(CatalogueError) as error:
        load_catalogue(grocery)
    assert error.value.problems == ["line 5: 7 values, but the header has 6 columns (a ';' inside a value needs quotes)"]


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("product_id;title;image\n", "the catalogue has no products"),
    ("product_id;title;image\n\n\n", "the catalogue has no products"),
    ("sku;name\nA-1;Apple\n", r"missing required column\(s\) \['product_id', 'title'\]; found \['sku', 'name'\]"),
    ("product_id;title;;brand\nA-1;Apple;;x\n", "column 3 of the header has no name"),
    ("product_id;title;title\nA-1;Apple;Pear\n", "column 'title' appears twice in the header"),
])
def test_unusable_files_are_refused_with_the_reason(grocery, text, message):
    (grocery / "catalogue.csv").write_text(text)
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(grocery)


def test_duplicate_skus_and_key_collisions_are_refused(grocery, monkeypatch):
    (grocery / "catalogue.csv").write_text(GROCERY_CSV.replace("BAN-002", "APL-001"))
    with pytest.raises(CatalogueError, match="lines 2, 3: duplicate product_id 'APL-001'"):
        load_catalogue(grocery)
    (grocery / "catalogue.csv").write_text(GROCERY_CSV)
    monkeypatch.setattr(features.catalogue, "product_keys", lambda ids: np.array(
        [4611686018427387905 if i in ("MLK-010", "BRD-7") else product_key(i) for i in ids], dtype=np.int64))
    with pytest.raises(CatalogueError) as error:
        load_catalogue(grocery)
    assert error.value.problems == ["lines 4, 5: product_ids 'MLK-010', 'BRD-7' share the int64 key 4611686018427387905 "
                                    "(a hash collision); rename one of them"]


def test_json_lines_load_with_numbers_as_ids_and_bad_lines_named(tmp_path):
    folder = write_grocery_catalogue(tmp_path / "shop")
    rows = [{"product_id": 1163, "title": "Apples", "image": "images/apples.png", "brand": "Orchard Co"},
            {"product_id": "BAN-002", "title": "Bananas", "weight_g": 1200}]
    _write(folder, "catalogue.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    catalogue = load_catalogue(folder)
    assert catalogue.ids == [1163, product_key("BAN-002")] and catalogue.product_id(1163) == "1163"
    assert catalogue.attribute_columns == ["brand", "weight_g"] and catalogue.products.at[1163, "weight_g"] == ""
    assert catalogue.text_only_ids == [product_key("BAN-002")]
    lines = [json.dumps(rows[0]), "{not json", "[1, 2]", json.dumps({"product_id": 1.5, "title": "Half"})]
    (folder / "catalogue.jsonl").write_text("\n".join(lines))
    with pytest.raises(CatalogueError) as error:
        load_catalogue(folder)
    problems = error.value.problems
    assert problems[0].startswith("line 2: not valid JSON")
    assert problems[1] == "line 3: expected a JSON object {...}; got [1, 2]"
    assert problems[2].startswith("line 4: product_id '\\x00' is not an id")


def test_parquet_rows_are_named_by_row(grocery):
    frame = pd.read_csv(grocery / "catalogue.csv", sep=";", dtype=str, keep_default_na=False)
    frame.loc[2, "title"] = ""
    frame.to_parquet(grocery / "catalogue.parquet")
    with pytest.raises(CatalogueError, match="row 3: product MLK-010: empty title"):
        load_catalogue(grocery / "catalogue.parquet")


def test_unsupported_types_and_missing_files_are_named(grocery):
    (grocery / "products.xlsx").write_bytes(b"PK")
    with pytest.raises(CatalogueError, match=r"unsupported catalogue type '.xlsx'; expected .csv, .tsv"):
        load_catalogue(grocery / "products.xlsx")
    (grocery / "catalogue.csv").unlink()
    with pytest.raises(CatalogueError, match="no catalogue.csv, catalogue.parquet, catalogue.jsonl"):
        load_catalogue(grocery)


def test_images_by_absolute_path_and_file_url(grocery, tmp_path):
    elsewhere = tmp_path / "elsewhere.png"
    Image.new("RGB", (8, 8), (0, 0, 255)).save(elsewhere)
    text = GROCERY_CSV.replace("images/apples.png", str(elsewhere)).replace("images/milk.png", elsewhere.as_uri())
    (grocery / "catalogue.csv").write_text(text)
    catalogue = load_catalogue(grocery)
    assert catalogue.image_path(product_key("MLK-010")) == elsewhere == catalogue.image_path(product_key("APL-001"))
    assert catalogue.load_image(product_key("MLK-010")).getpixel((0, 0)) == (0, 0, 255)


def test_other_url_schemes_are_named_even_without_checking_images(grocery):
    (grocery / "catalogue.csv").write_text(GROCERY_CSV.replace("images/milk.png", "ftp://example.com/milk.png"))
    with pytest.raises(CatalogueError, match="line 4: product MLK-010: image 'ftp://example.com/milk.png': ftp:// is not supported"):
        load_catalogue(grocery, check_images=False)
