"""Training and benchmarking the matte end to end on a tiny synthetic catalogue: checkpoints, resume, export,
and the CLI commands' wiring."""
import json

import numpy as np

import pytest
from PIL import Image
from scipy import ndimage
import torch
from click.testing import CliRunner

from features.checkpoint import read_state
from imagegen.errors import TrainingError
from imagegen.matte import MatteConfig, MatteNet, load_matte_model, save_matte_model
from imagegen.matte.data import build_product_set, catalogue_products, read_gap_exceptions
from imagegen.matte.train import train_matte
from lab.matte_bench import bench_matte
from matte_helpers import ellipse_alpha, studio_photo, write_matte_data
from service.cli import main

TINY = MatteConfig(widths=(4, 8, 8), working_size=32)


@pytest.fixture(scope="module")
def matte_data(tmp_path_factory):
    return write_matte_data(tmp_path_factory.mktemp("matte-data"))


def test_training_checkpoints_resumes_and_exports(matte_data, tmp_path):
    catalogue, backgrounds = matte_data
    options = dict(products=10, batch_size=4, config=TINY)
    train_matte(catalogue, backgrounds, tmp_path, minutes=5, max_steps=2, **options)
    assert read_state(tmp_path / "matte" / "checkpoint")["step"] == 2
    train_matte(catalogue, backgrounds, tmp_path, minutes=5, max_steps=3, resume=True, **options)
    log = (tmp_path / "train.log").read_text()
    assert "matte: resumed at step 2" in log and "final held-out composite IoU" in log
    assert "products: 10 from" in log  # the resumed session reused the prepared products
    assert read_state(tmp_path / "matte" / "checkpoint")["step"] == 3
    assert load_matte_model(tmp_path / "model").config == TINY


def test_a_run_can_start_from_trained_weights(matte_data, tmp_path):
    catalogue, backgrounds = matte_data
    start = MatteNet(TINY)
    save_matte_model(start, tmp_path / "start")
    tuned = train_matte(catalogue, backgrounds, tmp_path / "tune", minutes=5, max_steps=0, products=10, batch_size=2,
                        init_dir=tmp_path / "start")
    assert all(torch.equal(a, b) for a, b in zip(start.state_dict().values(), tuned.state_dict().values()))
    assert f"matte: starting from the weights in {tmp_path / 'start'}" in (tmp_path / "tune" / "train.log").read_text()
    with pytest.raises(TrainingError, match="has config .* the run asked for"):
        train_matte(catalogue, backgrounds, tmp_path / "other", minutes=5, max_steps=0, products=10,
                    config=MatteConfig(widths=(4, 8), working_size=32), init_dir=tmp_path / "start")


def test_held_out_products_are_never_training_products(matte_data):
    catalogue, _ = matte_data
    training = {pid for pid, _ in catalogue_products(catalogue, heldout=False)}
    heldout = {pid for pid, _ in catalogue_products(catalogue, heldout=True)}
    assert len(training) == 10 and len(heldout) == 6 and not training & heldout
    assert len(build_product_set(catalogue_products(catalogue, heldout=True), log=lambda line: None)) == 6


def test_gaps_open_in_the_truth_except_in_listed_products(tmp_path):
    truth = ellipse_alpha()
    for product_id in ("7", "8"):
        photo = studio_photo(truth, colour=(30, 30, 120))
        photo[38:44, 26:34] = 250  # the backdrop seen through a gap, or a white stripe: only a person can tell
        Image.fromarray(photo).save(tmp_path / f"{product_id}.png")
    products = [(pid, tmp_path / f"{pid}.png") for pid in ("7", "8")]
    lines = []
    made = build_product_set(products, log=lines.append, gaps_kept=read_gap_exceptions(_listed(tmp_path, "8")))
    gap = made.alpha[:, 0, 40:42, 30:32].numpy()  # the canvas pads the 60 px photo by 2 px a side
    assert gap[0].max() == 0 and gap[1].min() == 255
    assert "gaps: opened in 1 trusted pseudo-masks, kept filled in those of 1 listed products" in lines
    assert (build_product_set(products, log=lines.append).alpha[:, 0, 40:42, 30:32] == 255).all()  # the default


def _listed(folder, *keys):
    path = folder / "kept.txt"
    path.write_text("# found by eye\n" + "".join(f"{key}  # a white stripe\n" for key in keys))
    return path


def test_gap_exceptions_say_what_is_wrong(tmp_path):
    with pytest.raises(TrainingError, match="cannot read the gap exceptions"):
        read_gap_exceptions(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(TrainingError, match="list no product key"):
        read_gap_exceptions(tmp_path / "empty.txt")


def test_cli_trains_and_benches_the_matte(matte_data, tmp_path):
    catalogue, backgrounds = matte_data
    data = ["--catalogue", str(catalogue), "--backgrounds", str(backgrounds)]
    trained = CliRunner().invoke(main, ["train-matte", *data, "--out", str(tmp_path / "run"), "--products", "10",
                                        "--batch-size", "2", "--max-steps", "1", "--open-gaps", str(_listed(tmp_path, 3))])
    assert trained.exit_code == 0, trained.output
    assert f"matte model written to {tmp_path / 'run'}/model" in trained.output
    assert "gaps: opened in 0 trusted pseudo-masks" in (tmp_path / "run" / "train.log").read_text()  # ellipses: none
    save_matte_model(load_matte_model(tmp_path / "run" / "model"), tmp_path / "copy")
    benched = CliRunner().invoke(main, ["bench", "matte", *data, "--model", f"local-dir:{tmp_path / 'copy'}",
                                        "--composites", "4", "--photos", "4", "--grid", str(tmp_path / "g.png"),
                                        "--json"])
    assert benched.exit_code == 0, benched.output
    result = json.loads(benched.output.strip().splitlines()[-1])
    assert 0 <= result["matte_iou"] <= 1 and result["composites"] == 4 and result["photos"] == 4
    assert 0 <= result["fallback_rate"] <= 1 and result["ms_per_photo"] > 0
    assert result["grid"] == str(tmp_path / "g.png") and Image.open(tmp_path / "g.png").size[0] == 12 * 120
    assert 0 <= result["pseudo_masks_agreeing"] <= 1 and result["matte_iou_garment_backgrounds"] <= 1
    assert result["sure_but_wrong_composites"] is None or 0 <= result["sure_but_wrong_composites"] <= 1
    # the command reports what the bench measures of that model (seeded), not numbers of its own
    direct = bench_matte(load_matte_model(tmp_path / "copy"), catalogue, backgrounds, composites=4, photos=4,
                         amateur_photos=result["amateur_photos"], log=lambda *_: None)
    assert (result["matte_iou"], result["pseudo_mask_iou"]) == (direct["matte_iou"], direct["pseudo_mask_iou"])


def test_bench_says_when_there_are_too_few_held_out_products(matte_data, tmp_path):
    catalogue, backgrounds = matte_data
    save_matte_model(MatteNet(TINY), tmp_path)
    result = CliRunner().invoke(main, ["bench", "matte", "--catalogue", str(catalogue), "--backgrounds",
                                       str(backgrounds), "--model", f"local-dir:{tmp_path}", "--photos", "50"])
    assert result.exit_code == 2
    assert "6 held-out products; the bench needs 400" in result.output


def test_teacher_filter_leaves_out_pseudo_masks_the_teacher_disagrees_with(matte_data, monkeypatch):
    import imagegen.matte.data as data
    from imagegen.matte.data import teacher_agreeing
    catalogue, _ = matte_data
    products = build_product_set(catalogue_products(catalogue, heldout=False), log=lambda line: None)
    truth = {product_id: products.alpha[n, 0].numpy() / 255.0 for n, product_id in enumerate(products.ids)}
    order = {photo.tobytes(): product_id for photo, product_id in zip(products.photos.permute(0, 2, 3, 1).numpy(),
                                                                      products.ids)}

    def stand_in(photo, model, settle=False):  # the truth for even ids; for odd ones cut in half (IoU ~0.5)
        product_id = order[photo.tobytes()]
        alpha = truth[product_id].copy()
        if product_id % 2:
            alpha[: alpha.shape[0] // 2] = 0
        return alpha.astype(np.float32), None

    monkeypatch.setattr(data, "matte", stand_in)
    lines = []
    kept = teacher_agreeing(products, teacher=None, min_iou=0.95, log=lines.append)
    assert sorted(kept.ids) == sorted(i for i in products.ids if i % 2 == 0) and 0 < len(kept) < len(products)
    assert all(torch.equal(kept.alpha[n], products.alpha[list(products.ids).index(i)]) for n, i in enumerate(kept.ids))
    assert f"{len(kept)} of {len(products)} pseudo-masks agree with the teacher" in lines[0]
    with pytest.raises(TrainingError, match="agrees with none"):
        teacher_agreeing(products, teacher=None, min_iou=1.01, log=lines.append)


def test_self_training_keeps_the_amateur_photos_the_teacher_is_sure_of_with_its_matte_as_truth(matte_data, monkeypatch,
                                                                                              tmp_path):
    import imagegen.matte.data as data
    from imagegen.matte import judge_matte
    from imagegen.matte.data import PRODUCT_SHAPE, pseudo_labelled_photos
    from matte_helpers import ellipse_alpha
    _, backgrounds = matte_data
    sure_alpha = ellipse_alpha(80, 60)
    calls, settled = [], []

    def stand_in(photo, model, settle=False):  # sure of every other photo (a whole ellipse), unsure of the rest
        calls.append(photo.shape)
        settled.append(settle)
        alpha = sure_alpha if len(calls) % 2 else np.full(photo.shape[:2], 0.5, np.float32)
        return alpha, judge_matte(alpha)

    monkeypatch.setattr(data, "matte", stand_in)
    lines = []
    taught = pseudo_labelled_photos(backgrounds, "train", teacher=None, log=lines.append)
    assert calls == [(80, 60, 3)] * 4  # the 300x400 photos at the canvas height
    assert list(taught.ids) == [-1, -3] and taught.alpha.shape == (2, 1, *PRODUCT_SHAPE)
    assert np.array_equal(taught.alpha[0, 0, :, 2:62].numpy(), np.round(sure_alpha * 255).astype(np.uint8))
    assert lines == [f"self-training: the teacher is sure of 2 of 4 photos in {backgrounds / 'train'}"]
    assert settled == [False] * 4
    pseudo_labelled_photos(backgrounds, "train", teacher=None, log=lines.append, settle=True)
    assert settled[4:] == [True] * 4  # --teacher-settles reaches the teacher's mattes
    with pytest.raises(TrainingError, match="needs a teacher"):
        train_matte(matte_data[0], backgrounds, tmp_path, minutes=1, self_train=True, config=TINY, max_steps=0)
    assert not any(tmp_path.iterdir())  # refused before any work


def test_cli_refuses_self_training_without_a_teacher(matte_data, tmp_path):
    catalogue, backgrounds = matte_data
    result = CliRunner().invoke(main, ["train-matte", "--catalogue", str(catalogue), "--backgrounds", str(backgrounds),
                                       "--out", str(tmp_path / "run"), "--self-train"])
    assert result.exit_code != 0 and "self-training needs a teacher" in result.output
    settles = CliRunner().invoke(main, ["train-matte", "--catalogue", str(catalogue), "--backgrounds",
                                        str(backgrounds), "--out", str(tmp_path / "run2"), "--teacher-settles"])
    assert settles.exit_code != 0 and "--teacher-settles settles a teacher's mattes: give a --teacher" in settles.output
    assert not (tmp_path / "run2").exists()  # refused before the products are prepared


def test_bench_counts_sure_mattes_that_would_cut_the_product(matte_data, monkeypatch):
    import types
    import lab.matte_bench as matte_bench
    catalogue, backgrounds = matte_data
    products = build_product_set(catalogue_products(catalogue, heldout=True), log=lambda line: None)
    sure = [True, True, True, False]  # the last matte is unsure: a card would not use it, so it does not count
    monkeypatch.setattr(matte_bench, "_matte_all", lambda model, photos: (
        [np.ones(photo.shape[:2], np.float32) for photo in photos], [types.SimpleNamespace(sure=s) for s in sure], 0.1))
    monkeypatch.setattr(matte_bench, "mask_iou", lambda predicted, truth: np.array([0.5, 0.95, 0.89, 0.1]))
    result = matte_bench._composite_iou(None, products, backgrounds, "top-corners", 4, 0, lambda line: None)
    assert result["sure_but_wrong_composites"] == 0.6667  # 0.5 and 0.89 are under 0.9 (rounded to 4 places)
    assert result["matte_iou_sure"] == round((0.5 + 0.95 + 0.89) / 3, 4)


def test_edge_errors_see_a_glow_of_the_old_background_and_a_cut_edge(monkeypatch):
    import types
    import lab.matte_bench as matte_bench
    from matte_helpers import ellipse_alpha
    truth = ellipse_alpha(40, 32)
    photo = np.where(truth[..., None] >= 0.5, np.uint8(200), np.uint8(30)).astype(np.uint8).repeat(3, axis=-1)
    photo[..., 1] = np.where(truth >= 0.5, 40, 220)  # a magenta-ish product on a green background

    def scaled(alpha):
        def stand_in(photo, model):  # a sure matte: the truth at the photo's size, through `alpha`
            size = (photo.shape[1], photo.shape[0])
            big = np.asarray(Image.fromarray(truth.astype(np.float32)).resize(size, Image.BILINEAR))
            return alpha(big), types.SimpleNamespace(sure=True)
        return stand_in

    monkeypatch.setattr(matte_bench, "matte", scaled(lambda big: big))
    exact = matte_bench._edge_errors(None, photo[None], truth[None])
    assert exact["edge_composites"] == 1 and exact["edge_glow_delta_e"] < 1.0 and exact["edge_cut_delta_e"] < 1.0
    grown = np.ones((9, 9), bool)
    monkeypatch.setattr(matte_bench, "matte", scaled(
        lambda big: ndimage.binary_dilation(big >= 0.5, grown).astype(np.float32)))
    assert matte_bench._edge_errors(None, photo[None], truth[None])["edge_glow_delta_e"] > 10  # the green shows
    monkeypatch.setattr(matte_bench, "matte", scaled(
        lambda big: ndimage.binary_erosion(big >= 0.5, grown).astype(np.float32)))
    assert matte_bench._edge_errors(None, photo[None], truth[None])["edge_cut_delta_e"] > 10  # the edge is blue


def test_a_cards_alpha_narrows_the_soft_band_and_keeps_which_pixels_are_product():
    from imagegen.presentation.compose import EDGE_CONTRAST, SOLID_ALPHA, card_alpha
    ramp = np.linspace(0.0, 1.0, 201, dtype=np.float32)[None]
    card = card_alpha(ramp)
    assert np.array_equal(card >= 0.5, ramp >= 0.5)
    soft = lambda alpha: int(((alpha > 0) & (alpha < 1)).sum())  # noqa: E731
    assert soft(card) < soft(ramp) / 2
    assert np.all(card[ramp < 0.299] == 0.0) and np.all(card[ramp > 0.701] == 1.0) and card.max() == 1.0
    assert np.all(np.diff(card[0]) >= 0) and SOLID_ALPHA < 1.0  # still a ramp, only steeper
    band = (card > 0) & (card < 1)
    assert band.any() and np.allclose(card[band], (ramp[band] - 0.5) * EDGE_CONTRAST + 0.5)  # stretched, not moved
