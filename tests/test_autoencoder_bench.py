"""bench autoencoder: plain colours through a scene generator's movq, measured in CIELAB."""
import json
from types import SimpleNamespace

import torch
from click.testing import CliRunner

from lab.autoencoder_bench import LEVELS, plain_colour_reconstruction
from service.cli import main
from imagegen_helpers import tiny_scenes


class _Lossless(torch.nn.Module):
    """A stand-in movq that decodes exactly what it encoded, or every colour as one grey (`grey`)."""

    def __init__(self, grey: bool = False):
        super().__init__()
        self.config, self.grey = SimpleNamespace(sample_size=8), grey

    def encode(self, images):
        return SimpleNamespace(latents=images)

    def decode(self, latents, force_not_quantize=True):
        return SimpleNamespace(sample=torch.zeros_like(latents) if self.grey else latents)


def test_a_lossless_autoencoder_is_off_by_nothing_and_a_grey_one_by_every_colour():
    exact = plain_colour_reconstruction(_Lossless())
    assert exact["plain_colours"] == len(LEVELS) ** 3
    assert exact["median_delta_e"] < 0.5 and exact["share_off_by_over_10"] == 0 and exact["median_noise"] == 0
    grey = plain_colour_reconstruction(_Lossless(grey=True))
    assert grey["worst"]["decoded_as"] == [128, 128, 128]
    assert grey["share_off_by_over_10"] > 0.9 and grey["worst"]["delta_e"] >= grey["median_delta_e"] > 10


def test_cli_measures_a_scene_generators_autoencoder(tmp_path):
    folder = tmp_path / "scenes"
    tiny_scenes().save(folder)
    result = CliRunner().invoke(main, ["bench", "autoencoder", "--scenes", f"local-dir:{folder}", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output.strip().splitlines()[-1])
    assert printed["scenes"] == f"local-dir:{folder}" and printed["plain_colours"] == 125
