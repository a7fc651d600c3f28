"""The 4x upscaler: exact sizes, untouched large photos, save/load, config checks, training end to end, and a bench
whose zero-residual model scores exactly bicubic's PSNR."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from features.checkpoint import read_state
from features.errors import ModelSpecError
from imagegen.upscale import (Upscaler, UpscalerConfig, card_size, load_upscaler, model_version, save_upscaler,
                              upscale, upscale_for_card)
from imagegen.upscale import apply as apply_module
from imagegen.upscale.train import psnr_y, train_upscaler
from lab.upscale_bench import bench_upscale
from service.cli import main

TINY = UpscalerConfig(width=4, layers=2)


def _photo(width, height, seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([np.sin(xx / 3 + seed) * 100 + 128, np.cos(yy / 4) * 100 + 128, (xx * 3 + yy) % 256], -1)
    rgb = np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb)
    if mode == "RGBA":
        image.putalpha(Image.fromarray((xx * 255 // max(width - 1, 1)).astype(np.uint8)))
    return image


def _trained_like(config=TINY, seed=0):
    """A model with a non-zero residual (as after training), deterministic."""
    torch.manual_seed(seed)
    model = Upscaler(config)
    with torch.no_grad():
        model.head.weight.normal_(0, 0.05)
    return model.eval()


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory):
    """A clothing-photos-like folder: train/ and validation/ class folders of small JPEGs."""
    root = tmp_path_factory.mktemp("clothing-photos")
    for split, count in (("train", 10), ("validation", 3)):
        for i in range(count):
            folder = root / split / f"class{i % 2}"
            folder.mkdir(parents=True, exist_ok=True)
            _photo(48 + 4 * (i % 3), 64, seed=i).save(folder / f"{i}.jpg", quality=90)
    return root


def test_output_is_exactly_four_times_the_source():
    model = _trained_like()
    for size in ((60, 80), (13, 7), (1, 1)):
        out = upscale(model, _photo(*size))
        assert out.size == (size[0] * 4, size[1] * 4) and out.mode == "RGB"
    rgba = upscale(model, _photo(15, 10, mode="RGBA"))
    assert rgba.mode == "RGBA" and rgba.size == (60, 40)
    assert np.array_equal(np.asarray(rgba.getchannel("A")),
                          np.asarray(_photo(15, 10, mode="RGBA").getchannel("A").resize((60, 40), Image.BICUBIC)))
    assert upscale(model, _photo(10, 10).convert("L")).mode == "RGB"


def test_tiles_give_the_whole_image_result(monkeypatch):
    model, photo = _trained_like(), _photo(37, 29)
    whole = np.asarray(upscale(model, photo))
    monkeypatch.setattr(apply_module, "WHOLE_LIMIT", 0)
    monkeypatch.setattr(apply_module, "TILE", 8)
    assert np.array_equal(np.asarray(upscale(model, photo)), whole)
    assert np.array_equal(np.asarray(upscale(model, photo)), whole)  # deterministic


def test_large_photos_are_served_untouched_and_small_ones_upscaled():
    model, large = _trained_like(), _photo(240, 100)
    result = upscale_for_card(model, large)
    assert result.image is large and result.image.tobytes() == _photo(240, 100).tobytes()
    assert not result.upscaled and result.factor == 1.0 and result.model_version is None
    image, upscaled = upscale_for_card(model, _photo(60, 80))
    assert upscaled and image.size == (240, 320)
    small = upscale_for_card(model, _photo(30, 40))
    assert small.image.size == (180, 240) and small.factor == 6.0
    assert small.steps == ("model x4", "bicubic to 240 px long side") and small.model_version == model_version(model)
    assert card_size(60, 80) == (240, 320) and card_size(300, 10) == (300, 10) and card_size(20, 10) == (240, 120)


def test_save_and_load_give_identical_output(tmp_path):
    model, photo = _trained_like(), _photo(20, 16)
    save_upscaler(model, tmp_path / "model")
    loaded = load_upscaler(tmp_path / "model")
    assert loaded.config == TINY and model_version(loaded) == model_version(model)
    assert upscale(loaded, photo).tobytes() == upscale(model, photo).tobytes()


def test_bad_configs_and_folders_are_refused_by_name(tmp_path):
    with pytest.raises(ModelSpecError, match=r"UpscalerConfig\.width must be .*got 0"):
        UpscalerConfig(width=0)
    with pytest.raises(ModelSpecError, match=r"UpscalerConfig\.layers"):
        UpscalerConfig(layers=2.5)
    with pytest.raises(ModelSpecError, match="missing: config.json, model.safetensors"):
        load_upscaler(tmp_path / "nothing")
    save_upscaler(_trained_like(), tmp_path / "model")
    (tmp_path / "model" / "config.json").write_text(json.dumps({"width": 4, "layers": 2, "depth": 3}))
    with pytest.raises(ModelSpecError, match=r"unknown field\(s\) \['depth'\]"):
        load_upscaler(tmp_path / "model")
    (tmp_path / "model" / "config.json").write_text(json.dumps({"width": 8, "layers": 2}))
    with pytest.raises(ModelSpecError, match="do not fit the config.*expected"):
        load_upscaler(tmp_path / "model")
    (tmp_path / "model" / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelSpecError, match="expected a safetensors file"):
        load_upscaler(tmp_path / "model")


def test_zero_residual_scores_exactly_bicubic(photos_dir):
    untrained = Upscaler(TINY)  # the residual head starts at zero
    result = bench_upscale(untrained, None, photos_dir, log=lambda line: None)
    assert result["sr_psnr_gain_db"] == 0.0 and result["psnr_model_db"] == result["psnr_bicubic_db"]
    assert result["images"] == 3 and "validation" in result["evaluated_on"] and result["ms_per_image"] > 0
    assert "Y" in result["psnr_on"]
    # the bench sees the model's residual: a non-zero one moves the number
    assert bench_upscale(_trained_like(), None, photos_dir, log=lambda line: None)["sr_psnr_gain_db"] != 0.0


def test_psnr_y():
    truth = np.full((4, 4, 3), 100, dtype=np.uint8)
    assert psnr_y(truth, truth) == 100.0
    off = truth.copy()
    off[..., 1] += 10  # luma moves by 10 * 128.553 / 255
    assert psnr_y(off, truth) == pytest.approx(20 * np.log10(255 / (10 * 128.553 / 255)))


def test_small_catalogue_photos_fall_back_to_clothing_photos(photos_dir, sample_catalogue_dir):
    result = bench_upscale(Upscaler(TINY), sample_catalogue_dir, photos_dir, limit=2, log=lambda line: None)
    assert result["images"] == 2 and "validation" in result["evaluated_on"] and "below 240" in result["evaluated_on"]


def test_training_runs_resumes_and_writes_a_loadable_model(photos_dir, tmp_path):
    options = dict(batch_size=4, patch=32, config=TINY, lr=1e-2)
    train_upscaler(photos_dir, tmp_path, minutes=5, max_steps=3, **options)
    assert read_state(tmp_path / "upscale" / "checkpoint")["step"] == 3
    train_upscaler(photos_dir, tmp_path, minutes=5, max_steps=20, resume=True, **options)
    log = (tmp_path / "train.log").read_text()
    assert "upscale: resumed at step 3" in log and "held-back PSNR gain over bicubic" in log
    assert "photos: 8 from" in log  # the resumed session reused the decoded photos (2 of 10 held back)
    model = load_upscaler(tmp_path / "model")
    assert model.config == TINY and (tmp_path / "model" / "training.log").read_text() == log
    assert model.head.weight.abs().sum() > 0  # it learned a residual
    assert upscale(model, _photo(15, 20)).size == (60, 80)


def test_cli_trains_and_benches_the_upscaler(photos_dir, tmp_path):
    trained = CliRunner().invoke(main, ["train-upscaler", "--photos", str(photos_dir), "--out", str(tmp_path / "run"),
                                        "--width", "4", "--layers", "2", "--patch", "32", "--batch-size", "2",
                                        "--max-steps", "2", "--export", str(tmp_path / "model")])
    assert trained.exit_code == 0, trained.output
    assert f"upscaler written to {tmp_path / 'model'}" in trained.output
    benched = CliRunner().invoke(main, ["bench", "upscale", "--model", f"local-dir:{tmp_path / 'model'}", "--photos",
                                        str(photos_dir), "--json"])
    assert benched.exit_code == 0, benched.output
    result = json.loads(benched.output.strip().splitlines()[-1])
    assert result["images"] == 3 and result["device"] == "cpu" and "sr_psnr_gain_db" in result
    # the command reports what the bench measures of that model, not numbers of its own
    direct = bench_upscale(load_upscaler(tmp_path / "model"), None, photos_dir, log=lambda line: None)
    for name in ("sr_psnr_gain_db", "psnr_bicubic_db", "psnr_model_db", "model_version", "evaluated_on"):
        assert result[name] == direct[name], name
    assert CliRunner().invoke(main, ["train-upscaler", "--out", str(tmp_path / "x")]).exit_code != 0  # --photos


def test_a_catalogue_of_large_photos_is_its_own_held_out_set(photos_dir, tmp_path):
    (tmp_path / "images").mkdir()
    rows = ["product_id,title,image"]
    for i in range(3):
        _photo(200, 300, seed=i).save(tmp_path / "images" / f"{i + 1}.jpg", quality=90)
        rows.append(f"{i + 1},Shirt {i + 1},images/{i + 1}.jpg")
    (tmp_path / "catalogue.csv").write_text("\n".join(rows) + "\n")
    result = bench_upscale(Upscaler(TINY), tmp_path, photos_dir, log=lambda line: None)
    assert result["images"] == 3 and result["evaluated_on"].startswith("catalogue")
    assert result["sr_psnr_gain_db"] == 0.0
