"""`bench generator` on tiny random models: the metrics are computed and reported, not their values."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import save_file

from features.catalogue import load_catalogue
from features.encoder.clip_encoder import CONFIG_DIR
from features.image_pack import is_heldout
from imagegen.errors import BenchError
from imagegen_helpers import tiny_generator
from lab.dcgan import DCGANConfig, DCGANGenerator, save_dcgan_generator
from lab.generator_bench import bench_generator, colour_distances, heldout_ids
from service.cli import main
from tiny_models import copy_catalogue, make_tiny_encoder

SPACE = "test-space"  # the conftest encoder's


@pytest.fixture(scope="module")
def catalogue_dir(tmp_path_factory):
    return copy_catalogue(tmp_path_factory.mktemp("catalogue"), 120)  # about 12 held out


def tiny_dcgan():
    return DCGANGenerator(DCGANConfig(latent_dim=8, generator_width=4)).eval()


def test_bench_reports_every_metric_on_heldout_products(catalogue_dir, tmp_path):
    catalogue = load_catalogue(catalogue_dir)
    result = bench_generator(catalogue, make_tiny_encoder(), tiny_generator(SPACE), tiny_dcgan(), limit=8,
                             grid_path=tmp_path / "grid.png", log=lambda line: None)
    assert set(result["fd_clip"]) == {"conditional", "unconditional", "dcgan"}
    assert all(np.isfinite(v) and v >= 0 for v in result["fd_clip"].values())
    assert set(result["colour_delta_e"]) == {"source", "random_other"}
    assert 0.0 <= result["type_agreement"] <= 1.0 and result["images_per_s"] > 0
    assert result["products"] == 8
    assert Image.open(tmp_path / "grid.png").size == (3 * 128, 8 * 128)  # real | ours | DCGAN


def test_only_heldout_products_are_benchmarked(catalogue_dir):
    ids = heldout_ids(load_catalogue(catalogue_dir), limit=None, seed=0)
    assert ids and all(is_heldout(pid) for pid in ids)


def test_too_few_heldout_products_are_refused(catalogue_dir):
    with pytest.raises(BenchError, match="at least 8"):
        heldout_ids(load_catalogue(catalogue_dir), limit=3, seed=0)


def test_a_generator_of_another_space_is_refused_before_any_work(catalogue_dir):
    from features.errors import EmbeddingSpaceMismatch
    with pytest.raises(EmbeddingSpaceMismatch):
        bench_generator(load_catalogue(catalogue_dir), make_tiny_encoder(), tiny_generator("other"), tiny_dcgan())


def test_colour_distance_to_the_source_beats_a_random_other_when_colours_follow():
    colours = np.array([(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)], np.uint8)
    photos = np.full((4, 16, 16, 3), 255, np.uint8)
    photos[:, 4:12, 4:12] = colours[:, None, None]
    distances = colour_distances(photos, photos, seed=0)
    assert distances["source"] == 0.0 and distances["random_other"] > 50


def save_encoder_folder(encoder, folder):
    """The tiny encoder as an open_clip local-dir checkpoint, as `embedded` expects it."""
    folder.mkdir(parents=True)
    model_cfg = json.loads((CONFIG_DIR / "tailorcard-clip-test.json").read_text())
    config = {"model_cfg": model_cfg, "tailorcard": {"space_id": encoder.space_id}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in encoder.model.state_dict().items()}, folder / "open_clip_model.safetensors")


def test_bench_command_ends_with_one_json_line(catalogue_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TAILORCARD_DATA_DIR", str(tmp_path))
    save_encoder_folder(make_tiny_encoder(), tmp_path / "models" / "embedded-clip")
    tiny_generator(SPACE).save(tmp_path / "models" / "embedded-generator")
    save_dcgan_generator(tiny_dcgan(), tmp_path / "dcgan")
    result = CliRunner().invoke(main, ["bench", "generator", "--catalogue", str(catalogue_dir), "--limit", "8",
                                       "--dcgan", str(tmp_path / "dcgan"), "--grid", str(tmp_path / "g.png"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"fd_clip", "colour_delta_e", "type_agreement", "images_per_s"} <= set(report)
