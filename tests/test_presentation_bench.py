"""`bench presentation` on a tiny catalogue with tiny models: every key, the product kept, soft mattes measured."""
import math

import numpy as np

from imagegen.presentation import Presenter
from imagegen.presentation.compose import MattedPhoto, compose
from imagegen_helpers import tiny_scenes, unit_embeddings
from lab.presentation_bench import _measure, bench_presentation


def test_the_bench_measures_scene_cards_and_draws_the_grid(sample_catalogue_dir, tiny_encoder):
    presenter = Presenter(tiny_scenes(space_id=tiny_encoder.space_id), encoder=tiny_encoder)
    metrics, grid = bench_presentation(presenter, tiny_encoder, sample_catalogue_dir, products=3, segments=2,
                                       fallback_products=3, log=lambda *_: None)
    assert metrics["product_pixels_identical"] == 1.0 and metrics["min_long_side"] >= 240
    assert metrics["variants"] + 2 * round(metrics["fallback_rate"] * 3) == 6  # 3 products x 2 segments
    assert metrics["fallback_products"] == 3
    assert metrics["fallback_rate_heldout"] == metrics["fallback_rate"]  # the same 3 products, seeded alike
    assert sum(metrics["fallback_kinds_heldout"].values()) == round(metrics["fallback_rate_heldout"] * 3)
    assert 0.0 <= metrics["taste_specificity"] <= 1.0 and math.isfinite(metrics["background_delta_e"])
    assert grid is not None and grid.size[0] == 3 * 240  # the photo, then one card per segment


def test_held_out_fallbacks_are_counted_by_kind_of_reason(sample_catalogue_dir):
    from features.catalogue import load_catalogue
    from lab.presentation_bench import _heldout_fallbacks, _heldout_photos
    catalogue = load_catalogue(sample_catalogue_dir)
    found = _heldout_fallbacks(Presenter(), catalogue, _heldout_photos(catalogue, 20, 0))  # no matte: plain only
    kinds = found["fallback_kinds_heldout"]
    assert found["fallback_products"] == 20 and sum(kinds.values()) == round(found["fallback_rate_heldout"] * 20) > 1
    assert all("#%" in kind and not any(c.isdigit() for c in kind) for kind in kinds)  # "43% ..." and "12% ..." alike
    assert list(kinds.values()) == sorted(kinds.values(), reverse=True)  # what blocks the most first


def test_backdrop_colours_are_measured_where_a_soft_matte_leaves_faint_alpha(tiny_encoder):
    alpha = np.full((32, 24), 0.01, dtype=np.float32)  # a trained matte: faint, never exactly 0, on the backdrop
    alpha[8:24, 6:18] = 1.0
    matted = MattedPhoto(np.full((32, 24, 3), 200, dtype=np.uint8), alpha, "matte")
    red, blue = (np.zeros((32, 24, 3), dtype=np.uint8) for _ in range(2))
    red[..., 0], blue[..., 2] = 255, 255
    cards = [compose(matted, backdrop) for backdrop in (red, blue)]
    measured = _measure(tiny_encoder, matted, cards, unit_embeddings(2, seed=1))
    assert measured["delta_e"][0] > 100  # red against blue, not two empty selections


def test_a_candidate_matte_is_judged_on_cards_by_its_spec(tmp_path):
    from imagegen.matte import MatteConfig, MatteNet, save_matte_model
    from imagegen.matte.inference import installed_matte_model
    from imagegen.presentation import build_presenter
    candidate = MatteConfig(widths=(4, 8), working_size=32)
    save_matte_model(MatteNet(candidate), tmp_path)
    assert build_presenter(None, matte_spec=f"local-dir:{tmp_path}").matte_model.config == candidate
    assert build_presenter(None).matte_model is installed_matte_model()  # the shipped one by default
