"""Generator training mechanics with tiny components: one step per stage, checkpoints, resume, export.
No test trains for real."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from diffusers import VQModel

from features.checkpoint import load_checkpoint, save_checkpoint
from features.image_pack import ImagePack, save_image_pack
from imagegen import load_generator
from imagegen.components import build_movq
from imagegen.errors import TrainingError
from imagegen.training import save_generator, train_autoencoder, train_unet
from imagegen.training.autoencoder import encode_images, rescale_latents
from imagegen.training.conditions import load_conditions
from imagegen.training.ema import EMA
from imagegen.training.unet import drop_some
from service.cli import main

TINY = {"progress": False, "batch_size": 4, "checkpoint_every_s": 0.0}


def pack(n=24, size=16):
    rng = np.random.default_rng(0)
    return ImagePack(np.arange(1, n + 1, dtype=np.int64), rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))


def conditions(n=24, dim=16):
    return np.random.default_rng(1).normal(size=(n, dim)).astype(np.float32)


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train_autoencoder(pack(), out, minutes=1, max_steps=1, config="movq-tiny", **TINY)
    train_unet(pack(), conditions(), out, minutes=1, max_steps=2, config="unet-tiny", **TINY)
    return out


def test_autoencoder_stage_leaves_unit_variance_latents(trained_dir):
    movq = VQModel.from_pretrained(trained_dir / "movq").eval()
    latents = encode_images(movq, torch.from_numpy(pack().images))
    assert latents.std().item() == pytest.approx(1.0, rel=1e-3)


def test_rescaling_latents_keeps_what_the_model_decodes():
    torch.manual_seed(0)
    movq = build_movq("movq-tiny").eval()
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        before = movq.decode(movq.encode(images).latents, force_not_quantize=True).sample
        rescale_latents(movq, 3.0)
        latents = movq.encode(images).latents
        after = movq.decode(latents, force_not_quantize=True).sample
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)


def test_unet_stage_resumes_where_it_stopped(trained_dir):
    state = json.loads((trained_dir / "unet" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 2 and state["finished"]
    train_unet(pack(), conditions(), trained_dir, minutes=1, max_steps=3, config="unet-tiny", resume=True, **TINY)
    state = json.loads((trained_dir / "unet" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 3


def test_export_is_a_loadable_generator_of_the_training_space(trained_dir, tmp_path):
    save_generator(trained_dir, tmp_path / "gen", space_id="test", num_inference_steps=2)
    generator = load_generator(f"local-dir:{tmp_path / 'gen'}", device="cpu")
    assert generator.space_id == "test"
    assert generator.settings.condition_scale == pytest.approx(4.0)  # sqrt(16), as trained
    assert generator.generate(conditions(2)).shape == (2, 16, 16, 3)


def test_conditions_must_match_the_pack():
    with pytest.raises(TrainingError, match=r"n_images=24.*\(5, 16\)"):
        train_unet(pack(), conditions(5), "unused", minutes=1, max_steps=1, **TINY)


def test_conditions_from_an_embedding_store_follow_the_pack_order(tmp_path):
    vectors = conditions(3)
    np.savez(tmp_path / "store.npz", space_id="s", ids=np.array([3, 1, 2]), vectors=vectors)
    aligned, space = load_conditions(tmp_path / "store.npz", ImagePack(np.array([1, 2, 3]), np.zeros((3, 16, 16, 3), np.uint8)))
    assert space == "s"
    np.testing.assert_array_equal(aligned, vectors[[1, 2, 0]])
    with pytest.raises(TrainingError, match=r"\[4\]"):
        load_conditions(tmp_path / "store.npz", ImagePack(np.array([1, 4]), np.zeros((2, 16, 16, 3), np.uint8)))


def test_a_pack_of_another_size_is_refused(tmp_path):
    with pytest.raises(TrainingError, match="16px images.*32px"):
        train_autoencoder(pack(size=32), tmp_path, minutes=1, max_steps=1, config="movq-tiny", **TINY)


def test_condition_dropout_zeroes_whole_rows():
    embeds = torch.ones(1000, 4)
    dropped = drop_some(embeds, probability=0.25)
    zero_rows = (dropped == 0).all(dim=1)
    assert ((dropped == 1).all(dim=1) | zero_rows).all()
    assert 0.15 < zero_rows.float().mean() < 0.35
    assert torch.equal(drop_some(embeds, probability=0.0), embeds)


def test_ema_moves_toward_the_model_by_one_minus_decay():
    model = torch.nn.Linear(2, 2)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        model.weight.add_(1.0)
    before = ema.model.weight.clone()
    ema.update(model, step=1000)
    torch.testing.assert_close(ema.model.weight, before + 0.1 * (model.weight - before))


def test_checkpoint_round_trip_restores_weights_and_optimizer(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "ck", {"model": model}, {"optimizer": optimizer}, {"step": 7, "seconds": 1.0})
    fresh = torch.nn.Linear(3, 2)
    fresh_optimizer = torch.optim.Adam(fresh.parameters())
    state = load_checkpoint(tmp_path / "ck", {"model": fresh}, {"optimizer": fresh_optimizer})
    assert state["step"] == 7
    torch.testing.assert_close(fresh.weight, model.weight)
    saved, restored = optimizer.state_dict()["state"][0], fresh_optimizer.state_dict()["state"][0]
    torch.testing.assert_close(restored["exp_avg"], saved["exp_avg"])


def train_generator_cli(tmp_path, *options):
    """`tailorcard train-generator` for one step of tiny models on a tiny pack; the run folder is tmp_path/run."""
    save_image_pack(pack(), tmp_path / "pack.npz")
    np.save(tmp_path / "cond.npy", conditions())
    result = CliRunner().invoke(main, [
        "train-generator", "--pack", str(tmp_path / "pack.npz"), "--out", str(tmp_path / "run"),
        "--conditions", str(tmp_path / "cond.npy"), "--space-id", "cli-space", "--max-steps", "1",
        "--batch-size", "2", "--device", "cpu", "--movq-config", "movq-tiny", "--unet-config", "unet-tiny", *options])
    assert result.exit_code == 0, result.output


def test_train_generator_command_trains_and_exports(tmp_path):
    train_generator_cli(tmp_path, "--export", str(tmp_path / "gen"))
    assert load_generator(f"local-dir:{tmp_path / 'gen'}", device="cpu").space_id == "cli-space"
    assert "unet: finished at step 1" in (tmp_path / "run" / "train.log").read_text()


def test_train_generator_writes_into_its_run_folder_unless_told_where(tmp_path):
    train_generator_cli(tmp_path)
    assert load_generator(f"local-dir:{tmp_path / 'run' / 'model'}", device="cpu").space_id == "cli-space"


def test_train_generator_needs_the_space_of_a_plain_array(tmp_path):
    save_image_pack(pack(), tmp_path / "pack.npz")
    np.save(tmp_path / "cond.npy", conditions())
    result = CliRunner().invoke(main, ["train-generator", "--pack", str(tmp_path / "pack.npz"),
                                       "--conditions", str(tmp_path / "cond.npy")])
    assert result.exit_code == 2 and "does not say its embedding space" in result.output


def test_generator_stages_log_batch_size_and_learning_rate(tmp_path):
    rng = np.random.default_rng(0)
    pack = ImagePack(np.arange(1, 9, dtype=np.int64), rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8))
    train_autoencoder(pack, tmp_path, minutes=1, max_steps=1, config="movq-tiny", batch_size=3, learning_rate=2e-4,
                      progress=False)
    log = (tmp_path / "train.log").read_text()
    assert 'autoencoder: hyperparameters {"batch_size": 3' in log and '"lr": 0.0002' in log
