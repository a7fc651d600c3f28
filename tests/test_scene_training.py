"""Training the scene generator end to end on a tiny synthetic catalogue: its backdrops, the CLI's wiring, export."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from imagegen.errors import TrainingError
from imagegen.scene import load_scene_generator
from imagegen.scene.data import scene_mix_tag
from imagegen.scene.train import prepare_scene_set
from imagegen.training.autoencoder import load_trained_movq
from imagegen_helpers import tiny_generator
from matte_helpers import write_matte_data
from service.cli import main


@pytest.fixture(scope="module")
def scene_data(tmp_path_factory):
    """A tiny catalogue, and amateur-like photos whose garment (red) fills the middle of a grey floor."""
    catalogue, backgrounds = write_matte_data(tmp_path_factory.mktemp("scene-data"))
    photo = np.full((400, 300, 3), 128, dtype=np.uint8)
    photo[80:360, 40:260] = (220, 10, 10)
    for path in backgrounds.rglob("*.jpg"):
        Image.fromarray(photo).save(path)
    return catalogue, backgrounds


class _Backdrops:
    """A stand-in encoder that records every composite it embeds (their backdrops are what the test reads)."""
    space_id, embed_dim = "test", 16

    def __init__(self):
        self.images = []

    def encode_images(self, images, progress=False):
        self.images.extend(np.asarray(image) for image in images)
        return np.zeros((len(images), self.embed_dim), dtype=np.float32)


def _share_with_red_backdrops(images) -> float:
    """Of the composites (the first half; the second is each product alone on white), the share with 20 or more
    red pixels where their product is not (white when alone)."""
    composites, alone = np.stack(images[:len(images) // 2]).astype(int), np.stack(images[len(images) // 2:])
    red = (composites[..., 0] - composites[..., 1] > 60) & (alone.min(axis=-1) >= 250)
    return float((red.sum(axis=(1, 2)) >= 20).mean())


def test_real_backdrops_come_from_the_photos_corners_not_their_garments(scene_data, tmp_path):
    catalogue, backgrounds = scene_data
    movq = tiny_generator(image_size=64).movq
    seen = {}
    for region in ("top-corners", "centre"):
        encoder = _Backdrops()
        scenes, kept = prepare_scene_set(catalogue, backgrounds, tmp_path / region, encoder, movq, count=128,
                                         products=10, seed=0, region=region, log=lambda line: None)
        assert kept is movq  # no fine-tuning asked for
        assert len(scenes) == 128 and (tmp_path / region / f"scene-set-128-seed0-{region}-{scene_mix_tag()}.npz").is_file()
        seen[region] = _share_with_red_backdrops(encoder.images)
        # the backdrop alone (imagegen.matte.data.random_composites) is what the UNet learns to paint wherever it
        # paints; kept latents stay the composite's
        targets = scenes.targets(torch.arange(len(scenes)))
        assert torch.equal(targets * scenes.keep, scenes.latents * scenes.keep)
        assert torch.equal(targets * (1 - scenes.keep), scenes.backdrops * (1 - scenes.keep))
    # from the corners only a plain backdrop drawn reddish is red (two in five are any colour); from the centres
    # half the busy ones hold the garment besides
    assert seen["top-corners"] < 0.2 < 0.4 < seen["centre"], seen
    with pytest.raises(TrainingError, match="background region 'middle'"):
        prepare_scene_set(catalogue, backgrounds, tmp_path / "bad", _Backdrops(), movq, count=4, products=10, seed=0,
                          region="middle", log=lambda line: None)


def test_the_run_fine_tunes_its_own_autoencoder_and_encodes_the_scene_set_with_it(scene_data, tmp_path):
    catalogue, backgrounds = scene_data
    movq = tiny_generator(image_size=64).movq
    before = {name: value.clone() for name, value in movq.state_dict().items()}
    options = dict(count=16, products=10, seed=0, log=lambda line: None)
    plain, _ = prepare_scene_set(catalogue, backgrounds, tmp_path / "plain", _Backdrops(), movq, **options)
    tuned_set, tuned = prepare_scene_set(catalogue, backgrounds, tmp_path / "tuned", _Backdrops(), movq,
                                         movq_minutes=1, movq_images=16, movq_max_steps=3, **options)
    assert (tmp_path / "tuned" / "movq" / "config.json").is_file()
    assert any(not torch.equal(before[name], value) for name, value in tuned.state_dict().items())
    # the same composites (same seed), other latents: the set is in the fine-tuned autoencoder's latent space
    assert torch.equal(plain.keep, tuned_set.keep) and not torch.allclose(plain.latents, tuned_set.latents)
    # a set built with the given autoencoder is not reused once the run has its own
    mixed_set, _ = prepare_scene_set(catalogue, backgrounds, tmp_path / "plain", _Backdrops(),
                                     tiny_generator(image_size=64).movq, movq_minutes=1, movq_images=16,
                                     movq_max_steps=1, **options)
    assert not torch.allclose(mixed_set.latents, plain.latents)
    # a second session reuses the run's autoencoder and its set
    again_set, again = prepare_scene_set(catalogue, backgrounds, tmp_path / "tuned", _Backdrops(),
                                         tiny_generator(image_size=64).movq, movq_minutes=1, **options)
    assert torch.equal(again_set.latents, tuned_set.latents)
    assert all(torch.equal(value, tuned.state_dict()[name]) for name, value in again.state_dict().items())


def test_cli_trains_and_exports_a_scene_generator_on_corner_backdrops(scene_data, tmp_path):
    catalogue, backgrounds = scene_data
    out = tmp_path / "run"
    trained = CliRunner().invoke(main, ["train-scene", "--catalogue", str(catalogue), "--backgrounds", str(backgrounds),
                                        "--out", str(out), "--samples", "8", "--products", "10", "--batch-size", "4",
                                        "--max-steps", "1", "--guidance-scale", "2.5", "--movq-images", "8"])
    assert trained.exit_code == 0, trained.output
    assert "top-corners squares" in (out / "train.log").read_text()
    scenes = load_scene_generator(f"local-dir:{out / 'model'}")
    assert scenes.condition_bank.shape == (8, scenes.settings.embed_dim)
    assert scenes.settings.guidance_scale == 2.5
    tuned = load_trained_movq(out)  # the run's own autoencoder is the one exported
    assert all(torch.equal(value.half().float(), scenes.movq.state_dict()[name].float())
               for name, value in tuned.state_dict().items())
