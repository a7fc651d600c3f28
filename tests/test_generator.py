"""The generator with tiny random components: both diffusers pipelines, save/load, specs, spaces."""
import numpy as np
import pytest
import torch
from PIL import Image

from tiny_models import make_tiny_encoder
from features.errors import EmbeddingSpaceMismatch, ModelSpecError
from imagegen import check_same_space, load_generator, parse_generator_spec
from imagegen_helpers import EMBED_DIM, tiny_generator, unit_embeddings
from imagegen.pipeline import KANDINSKY_SPACE_ID, SETTINGS_FILE


@pytest.fixture(scope="module")
def generator():
    return tiny_generator()


@pytest.mark.parametrize("sampler", ["dpm++", "ddim", "ddpm"])
def test_text2img_pipeline_runs_two_steps_with_each_sampler(sampler):
    images = tiny_generator(sampler=sampler).generate(unit_embeddings(3))
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.uint8


def test_generation_is_seeded_and_follows_the_condition(generator):
    first, again = generator.generate(unit_embeddings(2), seed=1), generator.generate(unit_embeddings(2), seed=1)
    other_condition = generator.generate(unit_embeddings(2, seed=5), seed=1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other_condition)


def test_guidance_one_is_a_single_unconditional_branch(generator):
    null = np.zeros((2, EMBED_DIM), np.float32)
    unguided = generator.generate(null, guidance_scale=1.0)
    assert unguided.shape == (2, 16, 16, 3)
    # guiding the null condition away from itself changes nothing (up to batch rounding) ...
    assert np.abs(unguided.astype(int) - generator.generate(null, guidance_scale=3.0)).max() <= 1
    # ... while a real condition is pushed further by guidance
    condition = unit_embeddings(2)
    assert not np.array_equal(generator.generate(condition, guidance_scale=1.0),
                              generator.generate(condition, guidance_scale=3.0))


def test_img2img_pipeline_runs_two_steps(generator):
    photos = [Image.new("RGB", (12, 20), (200, 30, 30)), Image.new("RGB", (20, 20), (20, 30, 200))]
    variants = generator.vary(photos, unit_embeddings(2), strength=1.0, num_inference_steps=2)
    assert variants.shape == (2, 16, 16, 3) and variants.dtype == np.uint8


def test_embeddings_of_the_wrong_width_are_refused(generator):
    with pytest.raises(ValueError, match=r"\[n, 16\].*\(2, 8\)"):
        generator.generate(np.zeros((2, 8), np.float32))


def test_a_saved_generator_paints_the_same_images_every_time_it_is_loaded(generator, tmp_path):
    generator.save(tmp_path / "gen")  # weights stored as fp16
    loaded, again = (load_generator(f"local-dir:{tmp_path / 'gen'}", device="cpu") for _ in range(2))
    condition = unit_embeddings(2)
    painted = loaded.generate(condition, seed=3)
    np.testing.assert_array_equal(painted, again.generate(condition, seed=3))
    assert painted.shape == generator.generate(condition, seed=3).shape  # its image size and steps came along
    assert np.abs(painted.astype(int) - generator.generate(condition, seed=3)).max() <= 8  # fp16 rounding only
    assert loaded.space_id == generator.space_id
    with pytest.raises(ValueError, match=r"\[n, 16\].*\(2, 8\)"):  # the condition width came along too
        loaded.generate(np.zeros((2, 8), np.float32))


def test_embedded_spec_reads_the_data_folder(generator, tmp_path, monkeypatch):
    monkeypatch.setenv("TAILORCARD_DATA_DIR", str(tmp_path))
    assert parse_generator_spec("embedded").folder == tmp_path / "models" / "embedded-generator"
    with pytest.raises(ModelSpecError, match="embedded-generator has no model_index.json"):
        load_generator("embedded")
    generator.save(tmp_path / "models" / "embedded-generator")
    assert load_generator("embedded", device="cpu").space_id == "test"


@pytest.mark.parametrize("spec", ["", "openclip:ViT-B-32/x", "local-dir:", "kandinsky"])
def test_malformed_specs_are_refused(spec):
    with pytest.raises(ModelSpecError, match="expected 'embedded' or 'local-dir:PATH'"):
        parse_generator_spec(spec)


def test_an_encoder_of_another_space_is_refused(generator):
    generator.check_encoder(make_tiny_encoder(space_id="test"))
    with pytest.raises(EmbeddingSpaceMismatch, match="'test'.*'another-space'"):
        generator.check_encoder(make_tiny_encoder(space_id="another-space"))


def test_a_kandinsky_folder_without_our_settings_is_in_vit_bigg_space(generator, tmp_path):
    generator.save(tmp_path / "k22")
    (tmp_path / "k22" / SETTINGS_FILE).unlink()
    loaded = load_generator(f"local-dir:{tmp_path / 'k22'}", device="cpu")
    assert loaded.space_id == KANDINSKY_SPACE_ID
    with pytest.raises(EmbeddingSpaceMismatch):
        loaded.check_encoder(make_tiny_encoder(space_id="test"))


def test_check_same_space_accepts_only_equal_ids():
    check_same_space("a", "a")
    with pytest.raises(EmbeddingSpaceMismatch):
        check_same_space("a", "b")


def test_a_saved_generator_opens_and_paints_in_diffusers_own_kandinsky_pipeline(generator, tmp_path):
    from diffusers import KandinskyV22Pipeline
    generator.save(tmp_path / "gen")
    pipeline = KandinskyV22Pipeline.from_pretrained(tmp_path / "gen")
    pipeline.set_progress_bar_config(disable=True)
    condition = torch.from_numpy(unit_embeddings(2)).float()
    images = pipeline(image_embeds=condition, negative_image_embeds=torch.zeros_like(condition), height=16, width=16,
                      num_inference_steps=2, output_type="np").images
    assert images.shape == (2, 16, 16, 3) and np.isfinite(images).all()
