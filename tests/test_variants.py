"""Personalised variants: slerp, the fidelity gate (stub judge and tiny models), candidate ranking, fallback."""
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from features.images import pad_to_square
from imagegen.colour import dominant_colour
from imagegen.variants import (ClipJudge, VariantError, VariantParams, best_candidate, personalize, score_candidates,
                               slerp)
from imagegen.variants.personalize import draw_candidates
from imagegen_helpers import EMBED_DIM, tiny_generator, unit_embeddings
from variant_helpers import StubJudge


@pytest.fixture(scope="module")
def generator():
    return tiny_generator()


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    image = np.full((20, 15, 3), 255, np.uint8)
    image[4:16, 3:12] = rng.integers(0, 200, (12, 9, 3))
    return Image.fromarray(image)


def test_slerp_ends_at_its_endpoints_and_stays_on_the_sphere():
    a, b = unit_embeddings(2, seed=1)
    assert np.allclose(slerp(a, b, 0.0)[0], a, atol=1e-6)
    assert np.allclose(slerp(a, b, 1.0)[0], b, atol=1e-6)
    middle = slerp(a, b, 0.5)[0]
    assert np.isclose(np.linalg.norm(middle), 1.0)
    assert np.isclose(middle @ a, middle @ b, atol=1e-6)  # halfway in angle, not in a straight line


def test_slerp_refuses_weights_outside_zero_one_and_zero_vectors():
    a, b = unit_embeddings(2)
    with pytest.raises(ValueError, match="weight"):
        slerp(a, b, 1.5)
    with pytest.raises(ValueError, match="zero vector"):
        slerp(np.zeros_like(a), b, 0.5)


def test_gate_rejects_a_changed_article_type_even_with_the_largest_gain():
    original, taste = np.eye(3, dtype=np.float32)[:2]
    candidates = np.array([[0.95, 0.31, 0], [0.8, 0.6, 0]], dtype=np.float32)  # the second gains more
    scores = score_candidates(candidates, original, taste, ["Shirts", "Shoes"], "Shirts", tau=0.7)
    assert [s.passed for s in scores] == [True, False]
    assert scores[1].gain > scores[0].gain
    assert best_candidate(scores) == 0


def test_gate_rejects_low_similarity_and_no_gain():
    original, taste = np.eye(3, dtype=np.float32)[:2]
    candidates = np.array([[0.6, 0.8, 0], [1, 0, 0]], dtype=np.float32)
    scores = score_candidates(candidates, original, taste, ["Shirts", "Shirts"], "Shirts", tau=0.7)
    assert [s.passed for s in scores] == [False, False]  # too far from the photo; no move toward the taste
    assert best_candidate(scores) is None


def test_personalize_falls_back_to_the_photo_when_every_redraw_changes_the_type(generator, photo):
    params = VariantParams(strength=0.5, candidates=2, min_gain=-2.0)  # only the type can fail here
    variant = personalize(generator, StubJudge("Shoes"), photo, unit_embeddings(1, seed=5)[0], params)
    assert not variant.generated and variant.seed is None and variant.chosen is None
    assert [s.article_type for s in variant.scores] == ["Shoes", "Shoes"]
    assert np.array_equal(variant.image, np.asarray(pad_to_square(photo, generator.settings.image_size)))


def test_personalize_keeps_the_photo_when_the_judge_does_not_see_the_catalogue_type(generator, photo):
    params = VariantParams(candidates=2, min_gain=-2.0)
    taste = unit_embeddings(1, seed=5)[0]
    # the judge sees shoes everywhere, the photo included: unchanged, but not what the catalogue sells
    assert not personalize(generator, StubJudge("Shoes"), photo, taste, params, product_type="Shirts").generated
    assert personalize(generator, StubJudge("Shoes"), photo, taste, params, product_type="Shoes").generated


def test_the_colour_gate_serves_only_a_redraw_that_came_closer_to_the_wanted_colour(generator, photo):
    params = VariantParams(strength=0.5, candidates=2, min_gain=-2.0)
    taste = unit_embeddings(1, seed=5)[0]
    own = dominant_colour(np.asarray(pad_to_square(photo, generator.settings.image_size)))
    # the photo already is the wanted colour: no redraw can come closer, so the original stays
    kept = personalize(generator, StubJudge("Shirts"), photo, taste, params, colour=own)
    assert not kept.generated and all(score.colour_gain <= 0 and not score.passed for score in kept.scores)
    assert personalize(generator, StubJudge("Shirts"), photo, taste, replace(params, colour_gate=False),
                       colour=own).generated
    scores = score_candidates(np.eye(3)[:2], np.eye(3)[0], np.eye(3)[1], ["Shirts"] * 2, "Shirts", tau=-1,
                              min_gain=-2, colour_gains=[3.0, -1.0])
    assert [score.passed for score in scores] == [True, False] and scores[0].colour_gain == 3.0


def test_personalize_serves_a_redraw_that_keeps_the_type(generator, photo):
    params = VariantParams(strength=0.5, candidates=2, min_gain=-2.0, seed=7, mode="redraw")
    variant = personalize(generator, StubJudge("Shirts"), photo, unit_embeddings(1, seed=5)[0], params)
    assert variant.generated and variant.seed in (7, 8)
    expected = generator.vary([photo], slerp(StubJudge("Shirts").vector, unit_embeddings(1, seed=5)[0], params.taste_weight),
                              strength=params.strength, seed=variant.seed)[0]
    assert np.array_equal(variant.image, expected)  # the seed in the record redraws it


def test_residual_candidates_are_the_photo_plus_what_the_taste_changed(generator, photo):
    original, taste = StubJudge("Shirts").vector, unit_embeddings(1, seed=5)[0]
    condition = slerp(original, taste, 0.5)
    params = VariantParams(strength=0.5, candidates=2, seed=3)
    candidates = draw_candidates(generator, photo, original, condition, params)
    pixels = np.asarray(pad_to_square(photo, generator.settings.image_size), dtype=np.int16)
    for i, candidate in enumerate(candidates):
        toward_taste, toward_self = (generator.vary([photo], c, strength=0.5, seed=3 + i)[0].astype(np.int16)
                                     for c in (condition, original[None]))
        assert np.array_equal(candidate, np.clip(pixels + toward_taste - toward_self, 0, 255))
    assert not np.array_equal(candidates[0], pixels)  # the taste did change something
    unchanged = draw_candidates(generator, photo, original, original, params)  # no taste: nothing to add
    assert all(np.array_equal(candidate, pixels) for candidate in unchanged)
    doubled = draw_candidates(generator, photo, original, condition, replace(params, edit_scale=2.0))
    changed = candidates[0].astype(np.int16) - pixels
    unclipped = (pixels + 2 * changed >= 0) & (pixels + 2 * changed <= 255) & (candidates[0] > 0) & (candidates[0] < 255)
    assert np.array_equal((doubled[0].astype(np.int16) - pixels)[unclipped], 2 * changed[unclipped])


def test_personalize_refuses_a_strength_that_leaves_no_sampler_step(generator, photo):
    with pytest.raises(VariantError, match="no denoising step; raise num_inference_steps to at least 4"):
        personalize(generator, StubJudge("Shirts"), photo, unit_embeddings(1)[0], VariantParams(strength=0.3))


def test_personalize_refuses_a_judge_of_another_embedding_space(generator, photo):
    judge = StubJudge("Shirts")
    judge.space_id = "another-space"
    with pytest.raises(Exception, match="another-space"):
        personalize(generator, judge, photo, unit_embeddings(1)[0])


def test_params_are_checked_and_hashed():
    with pytest.raises(VariantError, match="strength"):
        VariantParams(strength=1.5)
    with pytest.raises(VariantError, match="candidates"):
        VariantParams(strength=0.5, candidates=0)
    with pytest.raises(VariantError, match=r"edit_scale must be in \(0, 4\]; got 0"):
        VariantParams(edit_scale=0)
    assert VariantParams().digest() == VariantParams().digest() != VariantParams(tau=0.9).digest()


def test_end_to_end_with_tiny_models_every_served_redraw_keeps_the_zero_shot_type(tiny_encoder, sample_catalogue):
    encoder = tiny_encoder
    generator = tiny_generator(space_id=encoder.space_id)
    judge = ClipJudge(encoder, sample_catalogue.products["articleType"])
    photo = sample_catalogue.load_image(sample_catalogue.ids[0])
    params = VariantParams(strength=0.5, candidates=4, tau=-1.0, min_gain=-2.0)  # the type alone decides
    variant = personalize(generator, judge, photo, unit_embeddings(1, seed=2)[0], params)
    assert [s.passed for s in variant.scores] == [s.article_type == variant.original_type for s in variant.scores]
    if variant.generated:
        assert judge.article_types(judge.embed([Image.fromarray(variant.image)]))[0] == variant.original_type
    else:
        assert np.array_equal(variant.image, np.asarray(pad_to_square(photo, generator.settings.image_size)))
    assert judge.article_types(judge.embed([photo]))[0] == variant.original_type
    assert EMBED_DIM == encoder.embed_dim
