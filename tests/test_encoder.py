"""The encoder: spec strings, their errors, unit vectors, and a train-export-load round trip."""
import json

import numpy as np
import pytest
import torch

from features.encoder import load_encoder, parse_encoder_spec
from features.model_spec import data_dir
from features.encoder.trainer import EncoderTrainer
from features.encoder.training import EncoderTrainingConfig, contrastive_loss
from features.errors import ModelSpecError
from features.image_pack import build_image_pack


def test_embedded_spec_points_at_shipped_folder():
    spec = parse_encoder_spec("embedded")
    assert spec.source == "local-dir"
    assert spec.location == str(data_dir() / "models" / "embedded-clip")


def test_local_dir_and_openclip_specs_parse():
    assert parse_encoder_spec("local-dir:/models/x").location == "/models/x"
    spec = parse_encoder_spec("openclip:ViT-B-32/laion2b_s34b_b79k")
    assert (spec.source, spec.location, spec.tag) == ("openclip", "ViT-B-32", "laion2b_s34b_b79k")


@pytest.mark.parametrize("bad, message", [
    ("", "unknown encoder spec ''"),
    ("clip", "unknown encoder spec 'clip'"),
    ("local-dir:", "has no path"),
    ("openclip:ViT-B-32", "needs both an architecture and a tag"),
    ("openclip:/laion", "needs both an architecture and a tag"),
])
def test_bad_specs_say_what_is_expected(bad, message):
    with pytest.raises(ModelSpecError, match=message) as error:
        parse_encoder_spec(bad)
    assert "expected 'embedded', 'local-dir:PATH' or 'openclip:ARCH/TAG'" in str(error.value)


def test_local_dir_without_config_is_refused(tmp_path):
    with pytest.raises(ModelSpecError, match="has no open_clip_config.json"):
        load_encoder(f"local-dir:{tmp_path}")


def test_openclip_unknown_arch_and_tag_are_refused():
    with pytest.raises(ModelSpecError, match="unknown open_clip architecture"):
        load_encoder("openclip:NoSuchNet/laion")
    with pytest.raises(ModelSpecError, match="no pretrained tag 'nope'"):
        load_encoder("openclip:ViT-B-32/nope")


def test_openclip_weights_missing_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: nothing can be found
    with pytest.raises(ModelSpecError, match="not available offline"):
        load_encoder("openclip:RN50/openai")


def test_vectors_are_unit_float32(tiny_encoder, sample_catalogue):
    images = [sample_catalogue.load_image(pid) for pid in sample_catalogue.ids[:5]]
    vectors = tiny_encoder.encode_images(images, batch_size=2)
    texts = tiny_encoder.encode_texts(["a red t-shirt", "a black watch", "x"])
    for array, rows in ((vectors, 5), (texts, 3)):
        assert array.dtype == np.float32 and array.shape == (rows, tiny_encoder.embed_dim)
        np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1.0, rtol=1e-5)
    assert tiny_encoder.encode_texts([]).shape == (0, tiny_encoder.embed_dim)


def test_batches_do_not_change_results(tiny_encoder, sample_catalogue):
    images = [sample_catalogue.load_image(pid) for pid in sample_catalogue.ids[:6]]
    np.testing.assert_allclose(tiny_encoder.encode_images(images, batch_size=6),
                               tiny_encoder.encode_images(images, batch_size=4), atol=1e-5)


def _gradient(tokens):
    """How hard the loss pushes the first two (near-identical) products' vectors around."""
    features = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.98, 0.02], [0.0, 1.0]]), dim=-1)
    features.requires_grad_(True)
    contrastive_loss(features, features.detach(), tokens, 50.0).backward()
    return features.grad[:2].norm().item()


def test_identical_texts_are_not_pushed_apart():
    # Two products sharing a text ("a black t-shirt") and a look are not a mistake to correct;
    # with distinct texts the same pair is.
    shared_text = _gradient(torch.tensor([[1, 2], [1, 2], [3, 4]]))
    distinct_text = _gradient(torch.tensor([[1, 2], [5, 6], [3, 4]]))
    assert shared_text < 0.1 * distinct_text


def test_training_resumes_and_exports_a_loadable_local_dir(sample_catalogue, tmp_path):
    # The shipped sample is all held-out products; renumbered, the split holds a few of each.
    products = sample_catalogue.products.reset_index(drop=True)
    pack = build_image_pack(sample_catalogue, size=32, progress=False)
    pack.ids = np.arange(len(pack.ids), dtype=np.int64)
    config = EncoderTrainingConfig(model="tailorcard-clip-test", batch_size=8, max_steps=2, minutes=5,
                                   texts_per_product=2, eval_products=20)
    trainer = EncoderTrainer(config, pack, products, tmp_path / "run", "cpu")
    trainer.run.extra_state = {"note": "kept"}  # the loop's extra state survives the encoder's checkpoint
    trainer.train()
    assert trainer.run.step == 2
    again = EncoderTrainer(EncoderTrainingConfig(**{**config.__dict__, "max_steps": 3}), pack,
                           products, tmp_path / "run", "cpu")
    assert again.resume() and again.run.step == 2
    assert again.run.extra_state == {"note": "kept"}
    again.train()
    assert again.run.step == 3
    folder = again.export(tmp_path / "export")
    encoder = load_encoder(f"local-dir:{folder}")
    config_json = json.loads((folder / "open_clip_config.json").read_text())
    assert encoder.space_id == config_json["tailorcard"]["space_id"]
    image = sample_catalogue.load_image(sample_catalogue.ids[0])
    assert encoder.encode_images([image]).shape == (1, 16)
