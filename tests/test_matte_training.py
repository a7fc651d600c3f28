"""Training and benchmarking the matte end to end on a tiny synthetic catalogue: checkpoints, resume, export,
and the CLI commands' wiring."""
import json

import pytest
from PIL import Image
import torch
from click.testing import CliRunner

from features.checkpoint import read_state
from imagegen.errors import TrainingError
from imagegen.matte import MatteConfig, MatteNet, load_matte_model, save_matte_model
from imagegen.matte.data import build_product_set, catalogue_products
from imagegen.matte.train import train_matte
from lab.matte_bench import bench_matte
from matte_helpers import write_matte_data
from service.cli import main

TINY = MatteConfig(widths=(4, 8, 8), working_size=32)


@pytest.fixture(scope="module")
def matte_data(tmp_path_factory):
    return write_matte_data(tmp_path_factory.mktemp("matte-data"))


def test_training_checkpoints_resumes_and_exports(matte_data, tmp_path):
    catalogue, backgrounds = matte_data
    options = dict(products=10, batch_size=4, config=TINY)
    train_matte(catalogue, backgrounds, tmp_path, minutes=5, max_steps=2, **options)
    assert read_state(tmp_path / "matte" / "checkpoint")["step"] == 2
    train_matte(catalogue, backgrounds, tmp_path, minutes=5, max_steps=3, resume=True, **options)
    log = (tmp_path / "train.log").read_text()
    assert "matte: resumed at step 2" in log and "final held-out composite IoU" in log
    assert "products: 10 from" in log  # the resumed session reused the prepared products
    assert read_state(tmp_path / "matte" / "checkpoint")["step"] == 3
    assert load_matte_model(tmp_path / "model").config == TINY


def test_a_run_can_start_from_trained_weights(matte_data, tmp_path):
    catalogue, backgrounds = matte_data
    start = MatteNet(TINY)
    save_matte_model(start, tmp_path / "start")
    tuned = train_matte(catalogue, backgrounds, tmp_path / "tune", minutes=5, max_steps=0, products=10, batch_size=2,
                        init_dir=tmp_path / "start")
    assert all(torch.equal(a, b) for a, b in zip(start.state_dict().values(), tuned.state_dict().values()))
    assert f"matte: starting from the weights in {tmp_path / 'start'}" in (tmp_path / "tune" / "train.log").read_text()
    with pytest.raises(TrainingError, match="has config .* the run asked for"):
        train_matte(catalogue, backgrounds, tmp_path / "other", minutes=5, max_steps=0, products=10,
                    config=MatteConfig(widths=(4, 8), working_size=32), init_dir=tmp_path / "start")


def test_held_out_products_are_never_training_products(matte_data):
    catalogue, _ = matte_data
    training = {pid for pid, _ in catalogue_products(catalogue, heldout=False)}
    heldout = {pid for pid, _ in catalogue_products(catalogue, heldout=True)}
    assert len(training) == 10 and len(heldout) == 6 and not training & heldout
    assert len(build_product_set(catalogue_products(catalogue, heldout=True), log=lambda line: None)) == 6


def test_cli_trains_and_benches_the_matte(matte_data, tmp_path):
    catalogue, backgrounds = matte_data
    data = ["--catalogue", str(catalogue), "--backgrounds", str(backgrounds)]
    trained = CliRunner().invoke(main, ["train-matte", *data, "--out", str(tmp_path / "run"), "--products", "10",
                                        "--batch-size", "2", "--max-steps", "1"])
    assert trained.exit_code == 0, trained.output
    assert f"matte model written to {tmp_path / 'run'}/model" in trained.output
    save_matte_model(load_matte_model(tmp_path / "run" / "model"), tmp_path / "copy")
    benched = CliRunner().invoke(main, ["bench", "matte", *data, "--model", f"local-dir:{tmp_path / 'copy'}",
                                        "--composites", "4", "--photos", "4", "--grid", str(tmp_path / "g.png"),
                                        "--json"])
    assert benched.exit_code == 0, benched.output
    result = json.loads(benched.output.strip().splitlines()[-1])
    assert 0 <= result["matte_iou"] <= 1 and result["composites"] == 4 and result["photos"] == 4
    assert 0 <= result["fallback_rate"] <= 1 and result["ms_per_photo"] > 0
    assert result["grid"] == str(tmp_path / "g.png") and Image.open(tmp_path / "g.png").size[0] == 12 * 120
    assert 0 <= result["pseudo_masks_agreeing"] <= 1 and result["matte_iou_garment_backgrounds"] <= 1
    # the command reports what the bench measures of that model (seeded), not numbers of its own
    direct = bench_matte(load_matte_model(tmp_path / "copy"), catalogue, backgrounds, composites=4, photos=4,
                         amateur_photos=result["amateur_photos"], log=lambda *_: None)
    assert (result["matte_iou"], result["pseudo_mask_iou"]) == (direct["matte_iou"], direct["pseudo_mask_iou"])


def test_bench_says_when_there_are_too_few_held_out_products(matte_data, tmp_path):
    catalogue, backgrounds = matte_data
    save_matte_model(MatteNet(TINY), tmp_path)
    result = CliRunner().invoke(main, ["bench", "matte", "--catalogue", str(catalogue), "--backgrounds",
                                       str(backgrounds), "--model", f"local-dir:{tmp_path}", "--photos", "50"])
    assert result.exit_code == 2
    assert "6 held-out products; the bench needs 400" in result.output
