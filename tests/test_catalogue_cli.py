"""`tailorcard catalogue check` / `from-folders`, and `bench encoder` on a catalogue without fashion columns."""
import json
import numpy as np

from click.testing import CliRunner
from PIL import Image

import features.encoder
from features.catalogue import load_catalogue
from lab.encoder_bench import bench_encoder
from service.cli import main
from store_catalogues import GROCERY_CSV, write_grocery_catalogue


def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


def test_check_summarises_a_clean_catalogue_and_writes_nothing(tmp_path):
    folder = write_grocery_catalogue(tmp_path / "grocery")
    before = _files(folder)
    result = CliRunner().invoke(main, ["catalogue", "check", str(folder)])
    assert result.exit_code == 0, result.output
    assert "format      CSV, ';'-separated" in result.stdout
    assert "products    5: 4 with a photo (4 file(s), 0 URL(s)), 1 text-only" in result.stdout
    assert "attributes  brand, aisle" in result.stdout and "ok: no problems" in result.stdout
    assert _files(folder) == before


def test_check_lists_every_problem_and_exits_2(tmp_path):
    folder = write_grocery_catalogue(tmp_path / "grocery")
    rows = "".join(f"BAD ID {n};Thing {n};;;x;y\n" for n in range(25))
    (folder / "catalogue.csv").write_text(GROCERY_CSV.replace("images/milk.png", "images/none.png") + rows)
    result = CliRunner().invoke(main, ["catalogue", "check", str(folder)])
    assert result.exit_code == 2
    assert f"error: {folder / 'catalogue.csv'}: 26 problem(s):" in result.stderr
    assert "line 4: product MLK-010:" in result.stderr and "image file not found" in result.stderr
    assert "line 31: product_id 'BAD ID 24' is not an id" in result.stderr  # all 26 listed, not the first 20
    assert "products    30: 4 with a photo" in result.stdout


def test_check_of_an_unreadable_file_is_one_error_line(tmp_path):
    (tmp_path / "catalogue.csv").write_text("sku,name\n1,Apple\n")
    result = CliRunner().invoke(main, ["catalogue", "check", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "missing required column" in result.stderr


def test_from_folders_makes_a_catalogue_that_checks_clean(tmp_path):
    for split, kind, count in (("train", "t-shirt", 2), ("train", "hat", 1), ("validation", "t-shirt", 1)):
        (tmp_path / "photos" / split / kind).mkdir(parents=True, exist_ok=True)
        for n in range(count):
            Image.new("RGB", (30, 40), (n * 60, 0, 0)).save(tmp_path / "photos" / split / kind / f"{n}.jpg")
    runner = CliRunner()
    made = runner.invoke(main, ["catalogue", "from-folders", str(tmp_path / "photos"), "--out", str(tmp_path / "shop")])
    assert made.exit_code == 0, made.output
    assert "4 products in 2 categories (hat 1, t-shirt 3)" in made.stdout
    lines = (tmp_path / "shop" / "catalogue.csv").read_text().splitlines()
    assert lines[0] == "product_id,title,image,category"
    assert lines[1] == "hat-0001,hat 1,../photos/train/hat/0.jpg,hat"
    assert lines[4] == "tshirt-0003,t-shirt 3,../photos/validation/t-shirt/0.jpg,t-shirt"
    checked = runner.invoke(main, ["catalogue", "check", str(tmp_path / "shop")])
    assert checked.exit_code == 0 and "ok: no problems" in checked.stdout
    again = runner.invoke(main, ["catalogue", "from-folders", str(tmp_path / "photos"), "--out", str(tmp_path / "shop")])
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_bench_encoder_scores_only_the_attributes_a_catalogue_has(tmp_path, tiny_encoder, monkeypatch):
    monkeypatch.setattr(features.encoder, "load_encoder", lambda spec: tiny_encoder)
    folder = write_grocery_catalogue(tmp_path / "grocery")
    result = CliRunner().invoke(main, ["bench", "encoder", "--catalogue", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["products"] == 4 and "articletype_top1" not in report and "basecolour_top1" not in report
    assert 0.0 <= report["text_to_image_recall_at_10"] <= 1.0
    direct = bench_encoder(tiny_encoder, load_catalogue(folder))  # what the command printed is the bench's
    assert report["text_to_image_recall_at_10"] == direct["text_to_image_recall_at_10"]
    assert "articletype_top1             n/a (needs an articleType column)" in result.stdout


def test_same_category_counts_the_neighbours_sharing_a_photos_categories():
    from features.encoder.evaluation import same_category_at_k
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 16))
    vectors = np.repeat(centres, 6, axis=0) + 0.01 * rng.normal(size=(12, 16))  # two tight groups of six
    kinds = [("shoes",)] * 6 + [("hats",)] * 6
    assert same_category_at_k(vectors, kinds, k=5) == (1.0, 0.5)  # grouped: every neighbour of its kind
    shuffled = [kinds[i] for i in [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11]]
    score, chance = same_category_at_k(vectors, shuffled, k=5)
    assert score < 0.7 and chance == 0.5
    unlabelled = kinds[:11] + [()]  # a product with no category is left out, as neither a photo nor a neighbour:
    assert same_category_at_k(vectors, unlabelled, k=4)[0] == 1.0  # the five hats left each have four neighbours
