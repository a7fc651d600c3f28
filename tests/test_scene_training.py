"""Training the scene generator end to end on a tiny synthetic catalogue: its backdrops, the CLI's wiring, export."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from imagegen.errors import TrainingError
from imagegen.scene import load_scene_generator
from imagegen.scene.train import prepare_scene_set
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
        scenes = prepare_scene_set(catalogue, backgrounds, tmp_path / region, encoder, movq, count=128, products=10,
                                   seed=0, region=region, log=lambda line: None)
        assert len(scenes) == 128 and (tmp_path / region / f"scene-set-128-seed0-{region}-backdrops.npz").is_file()
        seen[region] = _share_with_red_backdrops(encoder.images)
        # the backdrop alone (imagegen.matte.data.random_composites) is what the UNet learns to paint wherever it
        # paints; kept latents stay the composite's
        targets = scenes.targets(torch.arange(len(scenes)))
        assert torch.equal(targets * scenes.keep, scenes.latents * scenes.keep)
        assert torch.equal(targets * (1 - scenes.keep), scenes.backdrops * (1 - scenes.keep))
    # from the corners only a plain backdrop drawn reddish is red; from the centres half the busy ones hold the garment
    assert seen["top-corners"] < 0.1 < 0.25 < seen["centre"], seen
    with pytest.raises(TrainingError, match="background region 'middle'"):
        prepare_scene_set(catalogue, backgrounds, tmp_path / "bad", _Backdrops(), movq, count=4, products=10, seed=0,
                          region="middle", log=lambda line: None)


def test_cli_trains_and_exports_a_scene_generator_on_corner_backdrops(scene_data, tmp_path):
    catalogue, backgrounds = scene_data
    out = tmp_path / "run"
    trained = CliRunner().invoke(main, ["train-scene", "--catalogue", str(catalogue), "--backgrounds", str(backgrounds),
                                        "--out", str(out), "--samples", "8", "--products", "10", "--batch-size", "4",
                                        "--max-steps", "1"])
    assert trained.exit_code == 0, trained.output
    assert "top-corners squares" in (out / "train.log").read_text()
    scenes = load_scene_generator(f"local-dir:{out / 'model'}")
    assert scenes.condition_bank.shape == (8, scenes.settings.embed_dim)
