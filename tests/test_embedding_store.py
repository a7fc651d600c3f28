"""Embedding a catalogue of photo and text-only products, incrementally by content hash."""
import numpy as np
from PIL import Image

from features.catalogue import load_catalogue
from features.embedding_store import embed_catalogue
from features.ids import product_key
from store_catalogues import GROCERY_CSV, write_grocery_catalogue


def test_photos_go_through_the_image_tower_and_text_only_products_through_the_text_tower(tmp_path, tiny_encoder):
    catalogue = load_catalogue(write_grocery_catalogue(tmp_path / "grocery"))
    store = embed_catalogue(catalogue, tiny_encoder)
    oats, apples = product_key("OAT-55"), product_key("APL-001")
    expected_text = tiny_encoder.encode_texts(["Rolled oats, 500 g. Wholegrain porridge oats"])
    expected_photo = tiny_encoder.encode_images([catalogue.load_image(apples)])
    np.testing.assert_allclose(store.get([oats]), expected_text, atol=1e-5)
    np.testing.assert_allclose(store.get([apples]), expected_photo, atol=1e-5)
    assert sorted(store.ids.tolist()) == sorted(catalogue.ids)


def test_only_products_whose_content_changed_are_encoded_again(tmp_path, tiny_encoder):
    folder = write_grocery_catalogue(tmp_path / "grocery")
    store = embed_catalogue(load_catalogue(folder), tiny_encoder, tmp_path / "store.npz")
    assert store.update(load_catalogue(folder), tiny_encoder).encoded == []
    (folder / "catalogue.csv").write_text(GROCERY_CSV.replace("Wholegrain porridge oats", "Steel-cut oats"))
    Image.new("RGB", (24, 32), (0, 200, 0)).save(folder / "images" / "apples.png")
    update = store.update(load_catalogue(folder), tiny_encoder)
    assert sorted(update.encoded) == sorted([product_key("OAT-55"), product_key("APL-001")]) and update.unchanged == 3
    np.testing.assert_allclose(store.get([product_key("OAT-55")]),
                               tiny_encoder.encode_texts(["Rolled oats, 500 g. Steel-cut oats"]), atol=1e-5)
