"""The product matte: pseudo-masks, composites with known truth, the model's files, decontaminated edges,
bit-exact product pixels, and the fallback for unsure mattes."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from features.errors import ModelSpecError
from imagegen.matte import (MatteConfig, MatteNet, composite, decontaminate, judge_matte, load_matte_model, matte,
                            pseudo_mask, save_matte_model)
from imagegen.matte.inference import mask_iou
from imagegen.errors import TrainingError
from imagegen.matte.data import (BENCH_MIX, PRODUCT_SHAPE, ProductSet, load_backgrounds, random_batch,
                                 random_composites)
from imagegen.matte.inference import guided_upsample
from matte_helpers import ellipse_alpha, studio_photo

TINY = MatteConfig(widths=(4, 8, 8), working_size=32)
RED, BLUE, GREEN = (220, 30, 30), (20, 40, 210), (40, 160, 60)


def _iou(a, b) -> float:
    return float(mask_iou(np.asarray(a)[None], np.asarray(b)[None])[0])


# pseudo-masks


def test_pseudo_mask_finds_the_product_on_a_plain_backdrop():
    truth = ellipse_alpha()
    found = pseudo_mask(studio_photo(truth, colour=(90, 60, 140)))
    assert found.trusted, found.reason
    assert _iou(found.alpha, truth) > 0.97
    assert found.background.tolist() == pytest.approx([250, 250, 250], abs=3)


def test_pseudo_mask_keeps_a_pale_print_inside_the_product():
    truth = ellipse_alpha()
    photo = studio_photo(truth, colour=(30, 30, 120))
    photo[38:44, 26:34] = 245  # a white logo, the backdrop's colour, enclosed by the product
    assert pseudo_mask(photo).alpha[38:44, 26:34].min() == 1.0


def test_open_gaps_leaves_the_backdrop_seen_through_a_gap_as_backdrop_and_fills_specks():
    truth = ellipse_alpha()
    photo = studio_photo(truth, colour=(30, 30, 120))
    photo[38:44, 26:34] = 250  # 48 pixels of the backdrop's own colour enclosed by the product
    photo[30:33, 28:31] = 250  # 9 pixels: a speck, under MIN_GAP_PX
    filled, opened = pseudo_mask(photo), pseudo_mask(photo, open_gaps=True)
    assert filled.alpha[38:44, 26:34].min() == 1.0 and opened.alpha[39:43, 27:33].max() == 0.0
    assert opened.alpha[30:33, 28:31].min() == 1.0
    assert opened.trusted and np.array_equal(opened.alpha[:30], filled.alpha[:30])  # nothing else changes


def test_pseudo_mask_distrusts_a_busy_backdrop():
    photo = studio_photo(ellipse_alpha(), colour=(90, 60, 140))
    photo[:, :8] = np.random.default_rng(0).integers(0, 256, (80, 8, 3))
    found = pseudo_mask(photo)
    assert not found.trusted and "backdrop not plain" in found.reason


def test_pseudo_mask_distrusts_an_empty_photo():
    found = pseudo_mask(studio_photo(np.zeros((80, 60), np.float32), colour=(0, 0, 0)))
    assert not found.trusted and "product covers 0%" in found.reason


# composites


def _ellipse_products(count: int = 3) -> ProductSet:
    alpha = torch.from_numpy(ellipse_alpha(*PRODUCT_SHAPE, centre=(40, 32), radii=(30, 20)))
    alpha = (alpha * 255).round().byte()[None, None].repeat(count, 1, 1, 1)
    white = torch.full((count, 3, *PRODUCT_SHAPE), 255, dtype=torch.uint8)
    return ProductSet(np.arange(count), white, white, alpha)


def test_composite_truth_is_where_the_product_was_pasted():
    black_backgrounds = torch.zeros(2, 3, 128, 128, dtype=torch.uint8)
    images, alpha = random_batch(_ellipse_products(), black_backgrounds, 16, mix=BENCH_MIX,
                                 generator=torch.Generator().manual_seed(0))
    assert images.shape == (16, 3, 80, 80) and alpha.shape == (16, 1, 80, 80)
    truth = alpha[:, 0]
    assert all(truth[i].sum() > 100 for i in range(16))
    grey = images.mean(dim=1)  # a white product, its brightness jittered, on black: grey = brightness x alpha
    brightness = torch.stack([grey[i][truth[i] == 1].median() for i in range(16)])
    assert (grey / brightness[:, None, None] - truth).abs().mean() < 0.02
    assert mask_iou((grey / brightness[:, None, None]).numpy(), truth.numpy()).min() > 0.97


def test_each_composite_comes_with_its_backdrop_alone():
    products = _ellipse_products()
    grey = torch.full_like(products.photos, 128)
    opaque = products.alpha.float() / 255
    studio = (opaque * 255 + (1 - opaque) * 128).round().byte()  # a white product on a grey studio backdrop
    products = ProductSet(products.ids, studio.expand_as(grey).contiguous(), products.colours, products.alpha)
    for mix, over_black in (((0, 1, 0, 0), True), ((1, 0, 0, 0), False)):  # busy over black; the studio photo
        images, alpha, backdrops = random_composites(products, torch.zeros(2, 3, 128, 128, dtype=torch.uint8), 8,
                                                     mix=mix, generator=torch.Generator().manual_seed(1))
        outside = (alpha == 0).expand_as(images)
        assert torch.allclose(backdrops[outside], images[outside], atol=0.02)  # the same pixels, noise included
        inside = (alpha == 1).expand_as(images)
        assert images[inside].mean() > 0.5  # the white product is in the composite ...
        spread = backdrops.std(dim=(2, 3)).max()
        assert spread < 0.03, spread  # ... and not in its backdrop, a plain one (black, or the studio's grey)
        if over_black:
            assert backdrops.mean() < 0.05
    assert torch.equal(random_batch(products, grey, 4, generator=torch.Generator().manual_seed(2))[0],
                       random_composites(products, grey, 4, generator=torch.Generator().manual_seed(2))[0])


def test_near_white_share_sets_how_many_plain_backdrops_are_pale_greys():
    def pale_share(near_white: float) -> float:
        _, _, backdrops = random_composites(_ellipse_products(), torch.zeros(2, 3, 128, 128, dtype=torch.uint8), 200,
                                            size=16, mix=(0, 0, 1, 0), generator=torch.Generator().manual_seed(4),
                                            near_white=near_white)
        mean, spread = backdrops.mean(dim=(2, 3)), backdrops.std(dim=(2, 3))
        assert spread.max() < 0.1  # plain: a gentle gradient and a little noise
        return float(((mean.min(dim=1).values > 0.8) & (mean.max(dim=1).values - mean.min(dim=1).values < 0.05))
                     .float().mean())
    # any colour is seldom a pale grey by chance; the scene generator asks for fewer greys than the matte's default
    assert pale_share(0.0) < 0.05 and 0.1 < pale_share(0.2) < 0.3 and 0.4 < pale_share(0.5) < 0.6 \
        and pale_share(1.0) == 1.0


def test_composites_are_the_same_for_the_same_seed_and_empty_samples_have_no_product():
    backgrounds = torch.randint(0, 256, (2, 3, 128, 128), dtype=torch.uint8)
    first = random_batch(_ellipse_products(), backgrounds, 4, generator=torch.Generator().manual_seed(3))
    again = random_batch(_ellipse_products(), backgrounds, 4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    _, alpha = random_batch(_ellipse_products(), backgrounds, 4, mix=(0, 0, 0, 1))
    assert alpha.max() == 0


def test_top_corner_backgrounds_leave_out_the_garment_in_the_middle(tmp_path):
    # an amateur photo: a red garment in the middle of a grey floor, as clothing-photos are
    photo = np.full((533, 400, 3), 128, dtype=np.uint8)
    photo[120:480, 60:340] = (200, 20, 20)
    (tmp_path / "train" / "shirt").mkdir(parents=True)
    Image.fromarray(photo).save(tmp_path / "train" / "shirt" / "a.jpg")
    corners = load_backgrounds(tmp_path, "train", log=lambda line: None, region="top-corners")
    centre = load_backgrounds(tmp_path, "train", log=lambda line: None, region="centre")
    assert corners.shape == (2, 3, 128, 128) and centre.shape == (1, 3, 128, 128)
    assert (corners.float() - 128).abs().max() < 12  # floor only (JPEG noise)
    assert (centre[0, 0].float() - centre[0, 1].float()).mean() > 100  # mostly the red garment
    with pytest.raises(TrainingError, match="background region 'middle': expected one of centre, top-corners"):
        load_backgrounds(tmp_path, "train", region="middle")


# the model's files


def test_model_save_and_load_round_trip(tmp_path):
    model = MatteNet(TINY).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so that they must be saved too
        for layer in model.modules():
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.running_mean.uniform_(-1, 1)
    save_matte_model(model, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text()) == {"widths": [4, 8, 8], "working_size": 32}
    loaded = load_matte_model(tmp_path)
    images = torch.rand(2, 3, 32, 24)
    assert loaded.config == TINY
    assert torch.equal(loaded(images), model(images))


def test_unknown_config_keys_are_refused(tmp_path):
    save_matte_model(MatteNet(TINY), tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"widths": [4, 8, 8], "working_size": 32, "depth": 3}))
    with pytest.raises(ModelSpecError, match=r"unknown field\(s\) \['depth'\]"):
        load_matte_model(tmp_path)


@pytest.mark.parametrize("fields, message", [
    ({"widths": [8]}, r"widths must be a list of at least two channel counts >= 1; got \(8,\)"),
    ({"widths": [8, 0]}, r"widths must be .*; got \(8, 0\)"),
    ({"working_size": 50}, r"working_size must be a positive multiple of 16 .*; got 50"),
])
def test_config_checks_say_what_was_given_and_expected(fields, message):
    with pytest.raises(ModelSpecError, match=message):
        MatteConfig(**fields)


def test_network_refuses_sizes_it_cannot_halve():
    with pytest.raises(ValueError, match=r"multiples of 4; got shape \(1, 3, 30, 24\)"):
        MatteNet(TINY)(torch.rand(1, 3, 30, 24))


# edges and exact pixels


def _red_backdrop_product():
    alpha = ellipse_alpha(edge_px=3.0)
    photo = np.round(alpha[..., None] * np.array(GREEN) + (1 - alpha[..., None]) * np.array(RED)).astype(np.uint8)
    return photo, alpha


def test_decontamination_leaves_no_red_tint_on_a_blue_backdrop():
    photo, alpha = _red_backdrop_product()
    blue = np.broadcast_to(np.array(BLUE, np.uint8), photo.shape).copy()
    edge_band = (alpha > 0) & (alpha < 1)
    truth = alpha[..., None] * np.array(GREEN) + (1 - alpha[..., None]) * np.array(BLUE)

    def red_excess(image):
        return float((image[..., 0] - truth[..., 0])[edge_band].mean())

    naive = alpha[..., None] * photo + (1 - alpha[..., None]) * blue
    assert edge_band.sum() > 200
    assert red_excess(naive) > 20  # the halo the test is about
    assert abs(red_excess(composite(photo, alpha, blue).astype(np.float64))) < 2


def test_product_pixels_stay_bit_for_bit_the_photo():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (80, 60, 3), dtype=np.uint8)
    alpha = np.clip(ellipse_alpha(edge_px=4.0) + rng.normal(0, 0.05, (80, 60)), 0, 1).astype(np.float32)
    background = rng.integers(0, 256, (80, 60, 3), dtype=np.uint8)
    inside = alpha == 1.0
    assert inside.sum() > 500
    assert np.array_equal(composite(photo, alpha, background)[inside], photo[inside])
    assert np.array_equal(decontaminate(photo, alpha)[inside], photo[inside].astype(np.float32))
    assert np.array_equal(composite(photo, alpha, background)[alpha == 0], background[alpha == 0])


def test_composite_refuses_a_background_of_another_size():
    photo, alpha = _red_backdrop_product()
    with pytest.raises(ValueError, match=r"background of the product photo's shape \(80, 60, 3\); got uint8 \(60, 80"):
        composite(photo, alpha, np.zeros((60, 80, 3), np.uint8))


# inference and fallback


def test_judge_accepts_a_crisp_matte_and_explains_each_fallback():
    assert judge_matte(ellipse_alpha()).sure
    noisy = np.random.default_rng(0).uniform(0.2, 0.8, (80, 60))
    assert judge_matte(noisy).reason.startswith("matte unsure: confidence 0.")
    assert "100% of pixels between 0.1 and 0.9" in judge_matte(noisy).reason
    assert judge_matte(np.zeros((80, 60))).reason.startswith("no product found")
    assert "foreground touches all four borders" in judge_matte(ellipse_alpha(centre=(40, 30), radii=(42, 32))).reason
    assert "100% of the photo is foreground" in judge_matte(np.ones((80, 60))).reason


def test_a_see_through_patch_inside_the_product_makes_the_matte_unsure():
    """White bags on white came back with half-alpha holes while the whole-photo confidence stayed high."""
    alpha = ellipse_alpha().astype(np.float32)
    assert judge_matte(alpha).interior_unsure_share < 0.01  # the soft outline is not the interior
    holed = alpha.copy()
    holed[30:42, 24:36] = 0.5  # a patch of the product's middle neither in nor out
    judged = judge_matte(holed)
    assert judged.score > 0.85 and judged.interior_unsure_share > 0.05  # the old rules passed it
    assert "of the product's interior is between 0.1 and 0.9 (a see-through patch" in judged.reason
    handled = alpha.copy()
    handled[30:42, 24:36] = 0.0  # a real hole (a bag's handle) is decided, so it is no reason to doubt
    assert judge_matte(handled).sure
    assert judge_matte(holed).largest_unsure_patch == pytest.approx(144 / holed.size, abs=1e-5)  # the 12 x 12 patch
    assert judge_matte(handled).largest_unsure_patch < 5 / handled.size  # a pixel or two of the hole's soft rim
    two = alpha.copy()
    two[30:33, 28:31], two[50:54, 28:32] = 0.5, 0.5  # two patches: the larger one is the measure
    assert judge_matte(two).largest_unsure_patch == pytest.approx(16 / two.size, abs=1e-5)


def test_settling_by_colour_decides_the_undecided_interior_the_photo_can_tell_and_leaves_the_rest():
    from scipy import ndimage

    from imagegen.matte.inference import EDGE_BAND_PX
    from imagegen.matte.settle import settle_by_colour
    alpha = ellipse_alpha()
    photo = studio_photo(alpha, (30, 90, 160))
    undecided = alpha.copy()
    for rows in (slice(22, 28), slice(34, 40), slice(50, 56)):
        undecided[rows, 24:36] = 0.5
    photo[34:40, 24:36] = 250  # a real hole: the backdrop shows through
    photo[50:56, 24:36] = (140, 170, 205)  # halfway between the product's blue and the backdrop's white
    assert not judge_matte(undecided).sure
    settled = settle_by_colour(undecided, photo)
    assert (settled[22:28, 24:36] == 1).all()  # the product's own colour: product
    assert (settled[34:40, 24:36] == 0).all()  # the backdrop's colour: a hole
    assert (settled[50:56, 24:36] == 0.5).all()  # neither side nearer by the margin: left undecided
    decided = (undecided <= 0.1) | (undecided >= 0.9)
    outline = ~ndimage.binary_erosion(ndimage.binary_fill_holes(undecided > 0.1), iterations=EDGE_BAND_PX)
    assert np.array_equal(settled[decided | outline], undecided[decided | outline])  # never a decided pixel, nor
    # the soft outline (the edge a card keeps soft)
    crisp = (alpha >= 0.5).astype(np.float32)
    assert np.array_equal(settle_by_colour(crisp, photo), crisp)  # nothing undecided: nothing to settle
    blank = np.full_like(alpha, 0.5)
    assert np.array_equal(settle_by_colour(blank, photo), blank)  # no sure side: no colour model, nothing settled


def test_a_small_kept_part_makes_the_matte_unsure_whatever_its_confidence():
    """A catalogue photo frames its product: a crisp matte of a pocket-sized part is no matte of the product."""
    pocket = ellipse_alpha(centre=(30, 22), radii=(7, 6))
    judged = judge_matte(pocket)
    assert judged.score > 0.85 and judged.product_share > 0.02  # every earlier rule passes it
    assert judged.product_extent == pytest.approx(max(15 / 80, 13 / 60), abs=0.03)  # the wider of its two spans
    assert "the product's largest part spans 2" in judged.reason and "at least 40%" in judged.reason
    specks = pocket.copy()
    specks[2, 2] = specks[77, 57] = 1.0  # stray specks far apart do not make the product large
    assert not judge_matte(specks).sure
    assert judge_matte(ellipse_alpha(radii=(17, 9))).sure  # a narrow product spanning 43% of the height is one


def test_matte_of_an_all_noise_photo_falls_back_with_a_reason():
    torch.manual_seed(0)
    noise = np.random.default_rng(0).integers(0, 256, (80, 60, 3), dtype=np.uint8)
    alpha, confidence = matte(noise, MatteNet(TINY).eval())
    assert not confidence.sure
    assert confidence.reason.startswith(("matte unsure", "no product found"))


@pytest.mark.parametrize("shape", [(80, 60, 3), (37, 23, 3), (533, 400, 3)])
def test_matte_returns_an_alpha_of_the_photo_size(shape):
    photo = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    alpha, _ = matte(photo, MatteNet(TINY).eval())
    assert alpha.shape == shape[:2] and alpha.dtype == np.float32
    assert 0 <= alpha.min() and alpha.max() <= 1


def test_matte_refuses_what_is_not_a_photo():
    with pytest.raises(ValueError, match=r"uint8 RGB array \[h, w, 3\] or a PIL image; got ndarray float64 \(8, 8\)"):
        matte(np.zeros((8, 8)), MatteNet(TINY).eval())


def test_guided_upsampling_puts_the_edge_on_the_photo_edge():
    photo = np.zeros((160, 160, 3), np.uint8)
    photo[:, 83:] = 255  # the true edge, between two low-resolution pixels' centres
    low = np.zeros((20, 20), np.float32)
    low[:, 10:] = 1.0
    guided = guided_upsample(low, photo)
    truth = np.arange(160) >= 83
    bilinear = torch.nn.functional.interpolate(torch.from_numpy(low)[None, None], size=(160, 160),
                                               mode="bilinear", align_corners=False)[0, 0].numpy()
    assert np.array_equal(guided >= 0.5, np.broadcast_to(truth, (160, 160)))
    assert (bilinear >= 0.5).sum(axis=1).tolist() == [80] * 160  # bilinear: 3 pixels off


def test_loading_a_folder_without_weights_says_what_is_missing(tmp_path):
    save_matte_model(MatteNet(TINY), tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelSpecError, match="missing: model.safetensors"):
        load_matte_model(tmp_path)
