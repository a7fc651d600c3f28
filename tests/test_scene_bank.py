"""The condition bank: scene cards are painted from backdrops the generator learnt, and the best one is kept."""
import numpy as np
import pytest
from PIL import Image

from imagegen.errors import PresentationError
from imagegen.presentation import PresentationPolicy, Presenter
from imagegen.provenance import generator_version
from imagegen.scene import load_scene_generator
from imagegen.scene.bank import backdrop_styles, nearest_backdrops
from imagegen_helpers import EMBED_DIM, tiny_scenes, unit_embeddings
from matte_helpers import ellipse_alpha, studio_photo


@pytest.fixture
def photo() -> Image.Image:
    return Image.fromarray(studio_photo(ellipse_alpha(), (30, 90, 160)))


def added_scenes(encoder, bank):
    return tiny_scenes(condition_bank=bank, space_id=encoder.space_id, conditioning="added", added_norm=0.3)


def test_the_bank_offers_the_backdrops_whose_card_would_land_nearest_the_target():
    product, target = unit_embeddings(2, seed=1)
    bank = 0.3 * np.random.default_rng(2).normal(size=(40, EMBED_DIM)).astype(np.float32)
    bank[17] = 2.0 * target - product  # product + this row points exactly at the target
    chosen = nearest_backdrops(bank, target, product, count=3)
    assert chosen.shape == (3, EMBED_DIM) and np.array_equal(chosen[0], bank[17])
    predicted = (product + chosen) / np.linalg.norm(product + chosen, axis=1, keepdims=True)
    others = np.delete(bank, 17, axis=0)
    rest = (product + others) / np.linalg.norm(product + others, axis=1, keepdims=True)
    assert (predicted @ target).min() >= np.sort(rest @ target)[-2] - 1e-6  # the runners-up are the next nearest


def test_styles_are_stable_clusters_of_the_bank_and_a_style_offers_only_its_own_backdrops():
    rng = np.random.default_rng(2)
    directions = unit_embeddings(3, seed=7)
    bank = np.concatenate([direction + 0.05 * rng.normal(size=(n, EMBED_DIM))
                           for direction, n in zip(directions, (30, 20, 10))]).astype(np.float32)
    styles = backdrop_styles(bank, styles=3)
    assert np.array_equal(styles, [0] * 30 + [1] * 20 + [2] * 10)  # the three groups, numbered by size
    assert np.array_equal(backdrop_styles(bank[::-1], styles=3), styles[::-1])  # the rows' order does not matter
    product, target = unit_embeddings(2, seed=1)
    chosen = nearest_backdrops(bank, target, product, count=4, among=styles == 1)
    assert all(any(np.array_equal(row, own) for own in bank[30:50]) for row in chosen)
    everyone = nearest_backdrops(bank, target, product, count=60)
    assert np.array_equal(chosen, [row for row in everyone if any(np.array_equal(row, own) for own in bank[30:50])][:4])


def test_arms_of_two_styles_show_two_scenes(photo, tiny_encoder):
    presenter = Presenter(added_scenes(tiny_encoder, 0.5 * unit_embeddings(24, seed=5)), encoder=tiny_encoder)
    target = unit_embeddings(1, seed=6)[0]
    first, second = (presenter.present(photo, PresentationPolicy(candidates=2, style=s), target) for s in (0, 1))
    assert not np.array_equal(first.image, second.image)
    assert PresentationPolicy(style=1).digest() != PresentationPolicy().digest()  # stored apart
    with pytest.raises(PresentationError, match=r"style must be an integer in \[0, 7\].*got 8"):
        PresentationPolicy(style=8)


def test_without_a_bank_or_for_no_target_there_is_one_row(tiny_encoder):
    product, target = unit_embeddings(2, seed=3)
    scenes = added_scenes(tiny_encoder, None)
    assert np.array_equal(scenes.condition_candidates(target, product, 4), scenes.condition_for(target, product)[None])
    banked = added_scenes(tiny_encoder, unit_embeddings(8, seed=4))
    assert not banked.condition_candidates(np.zeros(EMBED_DIM), product, 4).any()  # the unconditional backdrop
    assert len(banked.condition_candidates(target, product, 4)) == 4


def test_a_card_is_the_candidate_whose_embedding_is_nearest_the_target(photo, tiny_encoder):
    bank = 0.5 * unit_embeddings(12, seed=5)
    target = unit_embeddings(1, seed=6)[0]
    presenter = Presenter(added_scenes(tiny_encoder, bank), encoder=tiny_encoder)
    rows = presenter.candidate_rows(photo, target[None], 3)[0]
    assert len(rows) == 3
    # each candidate on its own: a presenter whose bank is that one row paints exactly that card
    alone = [Presenter(added_scenes(tiny_encoder, row[None]), encoder=tiny_encoder).present(
        photo, PresentationPolicy(candidates=1), target).image for row in rows]
    fits = tiny_encoder.encode_images([Image.fromarray(card) for card in alone]) @ target
    assert len({card.tobytes() for card in alone}) == 3  # the candidates really differ
    card = presenter.present(photo, PresentationPolicy(candidates=3), target)
    best = int(np.argmax(fits))
    assert np.array_equal(card.image, alone[best])
    assert card.details["candidates"] == 3 and card.details["chosen"] == best
    assert card.details["fit"] == pytest.approx(float(fits[best]), abs=1e-4)


def test_the_bank_is_saved_beside_the_generator_and_versions_it(tmp_path, tiny_encoder):
    bank = unit_embeddings(6, seed=7)
    scenes = added_scenes(tiny_encoder, bank)
    scenes.save(tmp_path / "scenes")
    loaded = load_scene_generator(f"local-dir:{tmp_path / 'scenes'}", device="cpu")
    assert np.allclose(loaded.condition_bank, bank, atol=1e-3)  # stored in fp16
    assert generator_version(scenes) != generator_version(added_scenes(tiny_encoder, None))


def test_a_bank_of_the_wrong_width_and_a_policy_without_candidates_are_refused(tiny_encoder):
    with pytest.raises(ValueError, match=f"condition bank of finite rows \\[n >= 1, {EMBED_DIM}\\]; got shape \\(3, 5\\)"):
        added_scenes(tiny_encoder, np.ones((3, 5)))
    with pytest.raises(PresentationError, match="candidates"):
        PresentationPolicy(candidates=0)
