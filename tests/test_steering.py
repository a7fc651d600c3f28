"""Results feed the generator: the next round's condition turns toward what won, and its styles follow the winner."""
import io

import numpy as np
import pytest
from PIL import Image

from features.vectors import unit_rows
from imagegen.errors import PresentationError
from imagegen.presentation import PresentationMaker, PresentationPolicy, Presenter
from imagegen.presentation.policy import round_styles
from imagegen.presentation.steering import (fitted_direction, gain_noise, next_condition, next_styles,
                                             rewarded_direction)
from imagegen.scene.bank import backdrop_styles, backdrops_like, style_centres
from imagegen.variants import VariantStore
from imagegen_helpers import EMBED_DIM, tiny_scenes, unit_embeddings
from matte_helpers import ellipse_alpha, studio_photo
from service.variants import GenerationRequest


def grouped_bank(directions, sizes, spread=0.05, seed=2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([d + spread * rng.normal(size=(n, EMBED_DIM)) for d, n in zip(directions, sizes)]
                          ).astype(np.float32)


def test_the_condition_turns_toward_what_the_winners_added_and_no_further_than_the_step():
    current, added = unit_embeddings(2, seed=1)
    originals = unit_embeddings(3, seed=2)
    winners = originals + 0.8 * added
    rewarded = rewarded_direction(winners, originals)
    stay = next_condition(current, rewarded, step=0.0)
    half, full = (next_condition(current, rewarded, step=s) for s in (0.5, 1.0))
    assert np.allclose(stay, current, atol=1e-6)
    assert full @ added > half @ added > current @ added  # turned toward what won, further with a larger step
    assert np.degrees(np.arccos(np.clip(full @ current, -1, 1))) == pytest.approx(45, abs=0.1)
    with pytest.raises(PresentationError, match="step must be in"):
        next_condition(current, rewarded, step=1.5)
    with pytest.raises(PresentationError, match="one original per winning scene"):
        rewarded_direction(winners, originals[:2])


def test_what_every_scene_added_alike_cancels_when_the_losers_are_given():
    common, apart = unit_embeddings(2, seed=8)  # every backdrop adds `common`; only the winners add `apart`
    originals = unit_embeddings(4, seed=9)
    winners, losers = originals + 0.5 * common + 0.3 * apart, originals + 0.5 * common
    alone = rewarded_direction(winners, originals)
    contrast = rewarded_direction(winners, originals, losers, originals)
    cosine = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cosine(contrast, apart) > 0.95 > cosine(alone, apart)
    assert cosine(alone, common) > 0.5 > abs(cosine(contrast, common))
    with pytest.raises(PresentationError, match="one original per losing scene"):
        rewarded_direction(winners, originals, losers, None)


def test_style_centres_are_each_styles_mean_direction():
    directions = unit_embeddings(3, seed=7)
    bank = grouped_bank(directions, (30, 20, 10))
    styles = backdrop_styles(bank, styles=3)
    centres = style_centres(bank, styles)
    assert centres.shape == (3, EMBED_DIM) and np.allclose(np.linalg.norm(centres, axis=1), 1)
    assert np.all(np.diag(centres @ directions.T) > 0.95)  # style k's centre is its group's direction


def test_the_next_rounds_styles_start_with_the_winners_then_those_nearest_what_won():
    centres = unit_embeddings(5, seed=3)
    originals = unit_embeddings(4, seed=4)
    toward = centres[3] + 0.6 * centres[1]  # what the winning backdrops added: mostly style 3's way, some of 1's
    winners = originals + 0.7 * toward / np.linalg.norm(toward)
    rewarded = rewarded_direction(winners, originals)
    order = next_styles(2, rewarded, centres)
    assert sorted(order) == [0, 1, 2, 3, 4] and order[:3] == [2, 3, 1]  # the winner's style, then nearest first
    assert next_styles(None, rewarded, centres)[:2] == [3, 1]
    with pytest.raises(PresentationError, match="winner_style must be one of the 5 styles"):
        next_styles(5, rewarded, centres)


def test_a_round_style_is_the_rounds_jth_style_and_old_policies_keep_their_keys():
    assert round_styles(None) == round_styles({"round": 0}) == list(range(8))  # round 0: the styles in order
    steered = {"round": 1, "styles": [5, 2, 0, 1, 3, 4, 6, 7]}
    assert PresentationPolicy(round_style=1).painted_style(steered) == 2
    assert PresentationPolicy(round_style=1).painted_style(None) == 1
    assert PresentationPolicy(round_style=4).painted_style({"styles": [2, 0, 1]}) == 0  # 3 styles: wraps
    assert PresentationPolicy(style=4).painted_style(steered) == 4
    assert PresentationPolicy().painted_style(steered) is None
    with pytest.raises(PresentationError, match="round_style must be an integer in .* with style null"):
        PresentationPolicy(style=1, round_style=0)
    # images stored before round_style existed are found under the same keys (sha256 of the fields they had)
    assert PresentationPolicy().digest() == "fb973504ed3dc06b"
    assert PresentationPolicy(round_style=0).digest() != PresentationPolicy().digest()


def test_a_variant_of_a_round_style_is_painted_in_that_rounds_style_and_says_so(tmp_path, tiny_encoder):
    bank = grouped_bank(unit_embeddings(3, seed=7), (30, 20, 10), spread=0.1)
    presenter = Presenter(tiny_scenes(condition_bank=bank, space_id=tiny_encoder.space_id, conditioning="added",
                                      added_norm=0.3), encoder=tiny_encoder)
    maker = PresentationMaker(presenter, VariantStore(tmp_path))
    photo = Image.fromarray(studio_photo(ellipse_alpha(), (30, 90, 160)))
    condition = unit_embeddings(1, seed=6)[0]
    lineage = {"round": 1, "styles": [2, 0, 1]}
    follows = maker.generate(GenerationRequest(1, "a" * 16, "0", PresentationPolicy(round_style=0, candidates=2),
                                               photo, condition, lineage))
    fixed = maker.generate(GenerationRequest(1, "a" * 16, "0", PresentationPolicy(style=2, candidates=2),
                                             photo, condition, lineage))
    other = maker.generate(GenerationRequest(1, "a" * 16, "0", PresentationPolicy(style=0, candidates=2),
                                             photo, condition, lineage))
    assert follows.provenance["parameters"]["style"] == 2
    assert follows.provenance["parameters"]["policy"]["round_style"] == 0  # the arm's policy, as asked
    pixels = {name: np.asarray(Image.open(io.BytesIO(maker.read_bytes(made.variant_id))))
              for name, made in (("follows", follows), ("fixed", fixed), ("other", other))}
    assert np.array_equal(pixels["follows"], pixels["fixed"])  # style 2's painting
    assert not np.array_equal(pixels["follows"], pixels["other"])
    assert np.array_equal(maker.style_centres(), style_centres(bank, presenter.scenes.styles))


def cosine(a, b) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_the_fit_finds_the_rewarded_direction_from_every_arms_gain_where_the_winner_alone_does_not():
    rng = np.random.default_rng(3)
    hidden = unit_embeddings(1, seed=11)[0]  # what shoppers reward, unknown to the fit
    arms = unit_embeddings(1, seed=12) + 0.6 * rng.normal(size=(6, EMBED_DIM)) / np.sqrt(EMBED_DIM)  # close arms
    arms += 0.3 * hidden  # each adds a little of it, by chance more or less
    gains = 0.05 * (arms / np.linalg.norm(arms, axis=1, keepdims=True)) @ hidden
    fitted = fitted_direction(arms, gains, np.full(6, 500))
    winner = arms[int(np.argmax(gains))]
    assert cosine(fitted, hidden) > cosine(winner, hidden) + 0.2  # the arms' differences say more than one arm
    assert np.isclose(np.linalg.norm(fitted), 1) and fitted.dtype == np.float32
    in_span = fitted_direction(arms, 0.05 * (arms / np.linalg.norm(arms, axis=1, keepdims=True)) @ arms[0], ridge=1e-6)
    assert cosine(in_span, arms[0]) > 0.99  # a direction within the arms' span is recovered


def test_an_arm_that_earned_less_than_the_control_pulls_the_fit_away_from_what_it_added():
    good, bad = unit_embeddings(2, seed=13)
    fitted = fitted_direction(np.stack([good, bad]), [0.01, -0.01])
    assert fitted @ good > 0.3 and fitted @ bad < -0.3  # toward the one, away from the other
    heavy = fitted_direction(np.stack([good, bad]), [0.01, 0.01], exposures=[1000, 10])  # the same gain, seen more
    assert heavy @ good > heavy @ bad


def test_the_fit_says_what_was_given_when_it_cannot_fit():
    arms = unit_embeddings(2, seed=14)
    with pytest.raises(PresentationError, match="one gain and one exposure count per arm; got 2 arms, 3 gains"):
        fitted_direction(arms, [0.1, 0.2, 0.3])
    with pytest.raises(PresentationError, match="exposures > 0"):
        fitted_direction(arms, [0.1, 0.2], [10, 0])
    with pytest.raises(PresentationError, match="gains must be finite"):
        fitted_direction(arms, [0.1, np.nan])
    with pytest.raises(PresentationError, match=r"gains \[0.0, 0.0\] fit no direction"):
        fitted_direction(arms, [0.0, 0.0])


def test_backdrops_like_a_direction_are_the_bank_rows_most_like_it_whatever_their_length():
    directions = unit_embeddings(3, seed=7)
    bank = grouped_bank(directions, (30, 20, 10))
    bank[:30] *= 5  # long rows of another direction do not win on length
    rows = backdrops_like(bank, directions[2], count=4)
    assert rows.shape == (4, EMBED_DIM) and all(cosine(row, directions[2]) > 0.9 for row in rows)
    among = np.arange(len(bank)) < 30
    assert all(cosine(row, directions[0]) > 0.9 for row in backdrops_like(bank, directions[2], 3, among))


def test_a_fitted_rounds_variant_paints_the_backdrops_that_add_its_direction(tmp_path, tiny_encoder):
    photo = Image.fromarray(studio_photo(ellipse_alpha(), (30, 90, 160)))
    product = tiny_encoder.encode_images([photo])[0]
    wanted, other = unit_embeddings(2, seed=7)
    # rows that add `wanted`, and rows that would land a card on `wanted` as a point (the way from the product)
    bank = np.concatenate([grouped_bank([wanted], [30], spread=0.1), (wanted - product) + grouped_bank(
        [other], [20], spread=0.1) * 0.01]).astype(np.float32)
    scenes = tiny_scenes(condition_bank=bank, space_id=tiny_encoder.space_id, conditioning="added", added_norm=0.3)
    maker = PresentationMaker(Presenter(scenes, encoder=tiny_encoder), VariantStore(tmp_path))
    asked = []
    scenes.paint = lambda squares, repaint, rows, **kw: asked.append(rows[0]) or np.zeros((1, 64, 64, 3), np.uint8)
    made = maker.generate(GenerationRequest(1, "b" * 16, "0", PresentationPolicy(candidates=3), photo, wanted,
                                            {"round": 1, "aim": "added"}))
    assert made is not None and made.provenance["parameters"]["lineage"]["aim"] == "added"
    assert len(asked) == 3 and all(cosine(row, wanted) > 0.9 for row in asked)  # the rows that add it
    pointed = scenes.condition_candidates(wanted, product, 3)  # the same vector as a point: the way to it
    assert all(cosine(row, wanted - product) > 0.9 for row in pointed)
    with pytest.raises(ValueError, match=r"aim must be one of \['point', 'added'\]; got 'toward'"):
        scenes.condition_candidates(wanted, product, 3, aim="toward")


def test_fitted_between_arms_an_error_in_the_controls_rate_moves_nothing():
    rng = np.random.default_rng(5)
    hidden, common = unit_embeddings(2, seed=15)  # what shoppers reward; what every backdrop adds alike
    arms = common + 0.5 * rng.normal(size=(5, EMBED_DIM)) / np.sqrt(EMBED_DIM)
    gains = 0.05 * unit_rows(arms) @ hidden
    exposures = [900, 400, 300, 200, 100]
    honest = fitted_direction(arms, gains, exposures, between_arms=True)
    for control_error in (-0.02, 0.03):  # the control measured high or low shifts every gain alike
        shifted = fitted_direction(arms, gains + control_error, exposures, between_arms=True)
        assert np.allclose(shifted, honest, atol=1e-5)
        against_control = fitted_direction(arms, gains + control_error, exposures)
        assert abs(cosine(against_control, common)) > abs(cosine(shifted, common)) + 0.2  # tilted along `common`
    assert cosine(honest, hidden) > 0.5
    with pytest.raises(PresentationError, match="two arms at least; got 1 arm"):
        fitted_direction(arms[:1], gains[:1], between_arms=True)
    with pytest.raises(PresentationError, match="fit no direction \\(all zero alike"):
        fitted_direction(arms, np.full(5, 0.01), between_arms=True)


def test_weighed_by_their_intervals_a_starved_arms_loose_gain_does_not_push_the_fit_away_from_it():
    rng = np.random.default_rng(0)
    common = unit_embeddings(1, seed=16)[0]
    arms = unit_rows(common + 0.6 * rng.normal(size=(3, EMBED_DIM)) / np.sqrt(EMBED_DIM))
    gains, exposures = np.array([0.0104, -0.008, 0.0059]), [9080, 752, 5152]  # the middle arm seen little
    noise = gain_noise(np.array([0.004, 0.012, 0.005]) / 1.96, 0.0035 / 1.96)
    by_exposures, by_intervals = fitted_direction(arms, gains, exposures), fitted_direction(arms, gains, noise=noise)
    assert arms[1] @ by_exposures < 0 < arms[1] @ by_intervals  # its gain is within its noise: little say
    assert arms[0] @ by_intervals > arms[0] @ by_exposures  # the surest gain says the most
    exact = fitted_direction(arms, gains, noise=np.zeros((3, 3)))  # no noise: the unweighted ridge itself
    assert np.allclose(exact, fitted_direction(arms, gains), atol=1e-6)
    with pytest.raises(PresentationError, match="finite standard errors >= 0"):
        gain_noise([0.01, -1, 0.01], 0.01)
    with pytest.raises(PresentationError, match="symmetric finite 3x3 noise covariance"):
        fitted_direction(arms, gains, noise=np.eye(2))
    with pytest.raises(PresentationError, match="not both"):
        fitted_direction(arms, gains, noise=noise, between_arms=True)
