"""Scene cards: the product's own pixels over a backdrop painted for a taste segment, made and stored once."""
import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from diffusers.pipelines.kandinsky2_2.pipeline_kandinsky2_2_inpainting import prepare_mask
from PIL import Image

from imagegen import GeneratorSettings
from imagegen.components import build_movq, build_training_scheduler, build_unet
from imagegen.errors import PresentationError
from imagegen.matte import MatteConfig
from imagegen.matte.pseudo_mask import pseudo_mask
from imagegen.presentation import (ALL_SEGMENTS, ORIGINAL, SCENE, UPSCALED, PresentationMaker, PresentationPolicy,
                                   Presenter, plan_card)
from imagegen.presentation.compose import (backdrop_at_card, compose, generator_input, matte_photo,
                                          product_unchanged)
from imagegen.provenance import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, read_digital_source_type
from imagegen.scene import SceneGenerator, latent_keep_mask, load_scene_generator
from imagegen.variants import VariantStore
from imagegen_helpers import EMBED_DIM, tiny_scenes, unit_embeddings
from matte_helpers import ellipse_alpha, studio_photo


@pytest.fixture
def photo() -> Image.Image:
    return Image.fromarray(studio_photo(ellipse_alpha(), (30, 90, 160)))


def busy_photo() -> Image.Image:
    texture = np.random.default_rng(1).integers(0, 256, (8, 6, 3), dtype=np.uint8)
    return Image.fromarray(texture).resize((60, 80), Image.NEAREST)


def test_the_keep_mask_for_training_is_the_inpainting_pipelines_own():
    repaint = (torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.6).float()
    repaint[:, :, 8:24, 10:22] = 0.0
    keep = torch.nn.functional.interpolate(1.0 - repaint, size=(16, 16), mode="nearest")
    assert torch.equal(latent_keep_mask(repaint, 16), prepare_mask(keep.clone()))


def test_a_plain_backdrop_is_matted_and_the_composite_keeps_every_product_pixel(photo):
    matted, reason = matte_photo(np.asarray(photo))
    assert reason is None and matted.source == "pseudo-mask" and 0.2 < matted.product.mean() < 0.8
    backdrop = np.random.default_rng(0).integers(0, 256, matted.pixels.shape, dtype=np.uint8)
    card = compose(matted, backdrop)
    assert product_unchanged(card, matted)
    outside = matted.alpha == 0
    assert np.array_equal(card[outside], backdrop[outside])  # the backdrop is the new one where there is no product


def test_a_busy_photo_without_a_trained_matte_keeps_its_presentation_and_says_why():
    matted, reason = matte_photo(np.asarray(busy_photo()), matte_model=None)
    assert matted is None and "no trained matte" in reason


class KnownMatte(torch.nn.Module):
    """A stand-in for the trained matte that returns a given alpha (for a photo of its size)."""

    def __init__(self, alpha: np.ndarray):
        super().__init__()
        self.config, self.anchor = MatteConfig(widths=(4, 8), working_size=80), torch.nn.Parameter(torch.zeros(1))
        self.logits = torch.logit(torch.from_numpy(alpha).clamp(1e-4, 1 - 1e-4))[None]

    def forward(self, photos):  # the photo and its mirror image, as imagegen.matte.matte runs them
        return torch.stack([self.logits, self.logits.flip(-1)])


def test_a_pseudo_mask_that_misses_a_pale_part_is_not_used_against_the_matte():
    """On white, a white sole is backdrop to a colour-based pseudo-mask: the scene would replace it."""
    shoe = ellipse_alpha()
    pixels = studio_photo(shoe, (30, 90, 160))
    sole = (shoe > 0) & (np.arange(80)[:, None] >= 56)
    pixels[sole] = 250  # as white as the backdrop
    assert pseudo_mask(pixels).trusted and pseudo_mask(pixels).alpha[60:66, 25:35].max() < 0.5
    matted, reason = matte_photo(pixels, KnownMatte(shoe))  # a matte sure of the whole shoe
    assert reason is None and matted.source == "matte" and matted.product[60:66, 25:35].all()
    unsure = np.clip(shoe * 0.6 + 0.2, 0, 1).astype(np.float32)
    matted, reason = matte_photo(pixels, KnownMatte(unsure))
    assert matted is None and reason.startswith("the plain-backdrop mask and the matte disagree (IoU ")
    agreeing = pseudo_mask(pixels).alpha
    matted, reason = matte_photo(pixels, KnownMatte(agreeing))
    assert reason is None and matted.source == "pseudo-mask"


def test_on_a_plain_backdrop_a_sure_mattes_undecided_patch_refuses_the_card_for_the_haze_it_would_show():
    """The patch's pixels would come out as a glow of the old white backdrop (a gap between an arm and the body);
    on a busy backdrop, where it is seldom seen, the matte's other rules decide alone."""
    shoe = ellipse_alpha()
    pixels = studio_photo(shoe, (30, 90, 160))
    pixels[(shoe > 0) & (np.arange(80)[:, None] >= 56)] = 250  # a white sole: the pseudo-mask is not used
    patched = shoe.copy()
    patched[30:36, 27:33] = 0.5  # 36 px, 0.75 % of the photo; 3 % of the interior, which the matte's rules allow
    matted, reason = matte_photo(pixels, KnownMatte(patched))
    assert matted is None and reason.startswith("matte unsure: an undecided patch of ") and "plain backdrop" in reason
    smaller = shoe.copy()
    smaller[30:34, 28:32] = 0.5  # 16 px, 0.33 % of the photo
    matted, reason = matte_photo(pixels, KnownMatte(smaller))
    assert reason is None and matted.source == "matte"
    texture = np.asarray(busy_photo(), dtype=np.float32)
    on_busy = np.round(shoe[..., None] * pixels + (1 - shoe[..., None]) * texture).astype(np.uint8)
    assert not pseudo_mask(on_busy).plain_border
    matted, reason = matte_photo(on_busy, KnownMatte(patched))
    assert reason is None and matted.source == "matte"


def test_the_generator_paints_everything_but_the_product(photo):
    matted, _ = matte_photo(np.asarray(photo))
    square, repaint, box = generator_input(matted, 16)
    assert square.shape == (16, 16, 3) and repaint.dtype == bool
    assert repaint[:, 0].all() and repaint[:, -1].all()  # the padding and the backdrop are painted
    assert not repaint[8, 8]  # the product's middle is kept
    assert box == (2, 0, 12, 16)


def test_the_painted_squares_off_colour_border_never_reaches_the_card():
    painted = np.full((16, 16, 3), 120, dtype=np.uint8)
    painted[:2], painted[-2:], painted[:, :2], painted[:, -2:] = (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 255)
    tall = backdrop_at_card(painted, (2, 0, 12, 16), (80, 60), blur=0)  # a portrait photo's box spans all rows
    wide = backdrop_at_card(painted, (0, 3, 16, 10), (60, 80), blur=0)  # a landscape one's spans all columns
    assert tall.shape == (80, 60, 3) and wide.shape == (60, 80, 3)
    assert (tall == 120).all() and (wide == 120).all()
    painted[4:10, 4:10] = 60
    inner = backdrop_at_card(painted, (4, 4, 6, 6), (30, 30), blur=0)  # a box off the border is cut as given
    assert (inner == 60).all()


def test_scene_cards_are_card_sized_keep_the_product_and_follow_their_condition(photo):
    presenter = Presenter(tiny_scenes())
    cards = presenter.present_segments(photo, SCENE, unit_embeddings(2, seed=4))
    assert all(card.generated and card.reason is None for card in cards)
    pixels, _ = presenter.at_card_size(photo)
    assert cards[0].image.shape == pixels.shape == (320, 240, 3)  # 60x80 is never served below 240 px
    matted, _ = matte_photo(pixels)
    assert all(product_unchanged(card.image, matted) for card in cards)
    assert not np.array_equal(cards[0].image, cards[1].image)  # another segment, another backdrop
    again = presenter.present(photo, SCENE, unit_embeddings(2, seed=4)[0])
    assert np.array_equal(again.image, cards[0].image)  # the same seed and condition: the same card


def test_painting_given_rows_returns_one_card_per_row_and_chooses_none(photo):
    presenter = Presenter(tiny_scenes())
    rows = unit_embeddings(3, seed=4)
    cards = presenter.paint_rows(photo, SCENE, rows)
    matted, _ = matte_photo(presenter.at_card_size(photo)[0])
    assert len(cards) == 3 and all(card.generated and product_unchanged(card.image, matted) for card in cards)
    chosen = presenter.present(photo, SCENE, rows[1])  # one candidate: the card is that row's painting
    assert np.array_equal(chosen.image, cards[1].image) and not np.array_equal(cards[0].image, cards[1].image)
    refused = presenter.paint_rows(busy_photo(), SCENE, rows[:2])  # no plain backdrop and no trained matte
    assert [card.image for card in refused] == [None, None] and "no trained matte" in refused[0].reason


def test_a_generator_of_added_backdrops_paints_the_way_from_the_product_to_the_taste(photo, tiny_encoder):
    scenes = tiny_scenes(space_id=tiny_encoder.space_id, conditioning="added", added_norm=0.3)
    product = tiny_encoder.encode_images([photo])[0]
    taste = unit_embeddings(1, seed=6)[0]
    way = scenes.condition_for(taste, product)
    assert np.isclose(np.linalg.norm(way), 0.3) and np.allclose(way / 0.3, (taste - product) / np.linalg.norm(taste - product))
    assert not scenes.condition_for(product, product).any()  # the taste is the product: a plain backdrop
    with pytest.raises(PresentationError, match="needs the encoder"):
        Presenter(scenes).present(photo, SCENE, taste)
    card = Presenter(scenes, encoder=tiny_encoder).present(photo, SCENE, taste)
    assert card.generated and product_unchanged(card.image, matte_photo(Presenter().at_card_size(photo)[0])[0])


def test_the_maker_keeps_each_scenes_clip_embedding_and_its_photos_for_steering(tmp_path, photo, tiny_encoder):
    scenes = tiny_scenes(space_id=tiny_encoder.space_id, conditioning="added", added_norm=0.3)
    maker = PresentationMaker(Presenter(scenes, encoder=tiny_encoder), VariantStore(tmp_path),
                              encoder_space=tiny_encoder.space_id)
    stored = maker.generate(Request(7, "a" * 64, "3", replace(SCENE, candidates=2), photo, unit_embeddings(1)[0]))
    scene, own = maker.embeddings(maker.get(stored.variant_id))  # read back from the store
    made = Image.open(io.BytesIO(maker.read_bytes(stored.variant_id)))
    assert np.allclose(scene, tiny_encoder.encode_images([made])[0], atol=1e-5)  # the card as served
    assert np.allclose(own, tiny_encoder.encode_images([photo])[0], atol=1e-5)
    elsewhere = PresentationMaker(maker.presenter, maker.store, encoder_space="another encoder")
    assert elsewhere.embeddings(stored) is None  # rows of another space never steer this one
    without = PresentationMaker(Presenter(tiny_scenes()), VariantStore(tmp_path / "plain"), encoder_space="test")
    assert without.embeddings(without.generate(Request(7, "a" * 64, "3", SCENE, photo,
                                                       unit_embeddings(1)[0]))) is None


def test_a_scene_needs_a_condition_and_the_control_is_the_photo_at_card_size(photo):
    presenter = Presenter(tiny_scenes())
    with pytest.raises(PresentationError, match="needs a condition"):
        presenter.present(photo, SCENE)
    control = presenter.present(photo, UPSCALED)
    assert not control.generated and control.image.shape == (320, 240, 3)
    assert control.details["upscaled"]["steps"] == ["bicubic to 320 px long side"]  # no upscaler installed here
    assert np.array_equal(presenter.present(photo, ORIGINAL).image, np.asarray(photo))


def test_the_maker_stores_a_labelled_composite_once_and_looks_it_up(tmp_path, photo):
    maker = PresentationMaker(Presenter(tiny_scenes()), VariantStore(tmp_path), encoder_space="test")
    request = Request(7, "a" * 64, "3", SCENE, photo, unit_embeddings(1, seed=2)[0])
    assert maker.lookup(7, "a" * 64, "3", SCENE) is None
    stored = maker.generate(request)
    assert maker.lookup(7, "a" * 64, "3", SCENE).variant_id == stored.variant_id
    assert maker.lookup(7, "a" * 64, "4", SCENE) is None  # another segment is another image
    record = stored.provenance
    assert record["label"] == "AI-generated background" and record["ai_generated"] is True
    assert record["digital_source_type"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert read_digital_source_type(maker.read_bytes(stored.variant_id)) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert record["parameters"]["policy"] == SCENE.to_dict() and record["parameters"]["matte"] == "pseudo-mask"
    assert maker.invalidate(7) == [("3", SCENE)] and maker.lookup(7, "a" * 64, "3", SCENE) is None
    assert record["product_id"] == "7"  # no store id given: the key's digits
    control = maker.generate(Request(8, "c" * 64, ALL_SEGMENTS, UPSCALED, photo, None, sku="TEE-8")).provenance
    assert control["label"] == "Photo enlarged" and control["ai_generated"] is False
    assert control["product_id"] == "TEE-8"  # the product as its store names it
    assert control["digital_source_type"].endswith("/algorithmicallyEnhanced")


def test_an_unsure_matte_is_decided_once_with_its_reason(tmp_path):
    maker = PresentationMaker(Presenter(tiny_scenes()), VariantStore(tmp_path))
    assert maker.generate(Request(8, "b" * 64, "1", SCENE, busy_photo(), unit_embeddings(1)[0])) is None
    decision = maker.decision("b" * 64, "1", SCENE)
    assert decision is not None and not decision.generated and "no trained matte" in decision.reason


def test_the_scene_generator_round_trips_through_a_local_dir(tmp_path, photo):
    scenes = tiny_scenes()
    scenes.save(tmp_path / "scene", dtype=torch.float32)
    loaded = load_scene_generator(f"local-dir:{tmp_path / 'scene'}", device="cpu")
    squares = np.full((1, 16, 16, 3), 255, np.uint8)
    repaint = np.ones((1, 16, 16), bool)
    repaint[0, 4:12, 5:11] = False
    condition = unit_embeddings(1, seed=9)
    assert np.array_equal(loaded.paint(squares, repaint, condition), scenes.paint(squares, repaint, condition))
    assert loaded.settings == scenes.settings


def test_a_unet_without_the_inpainting_channels_is_refused():
    with pytest.raises(ValueError, match="takes 9 channels"):
        SceneGenerator(build_unet("unet-tiny", embed_dim=EMBED_DIM), build_movq("movq-tiny"), build_training_scheduler(),
                       GeneratorSettings(space_id="test", embed_dim=EMBED_DIM, image_size=16))


@pytest.mark.parametrize("has_photo, allowed, segment, policy, expected", [
    (True, True, 2, SCENE, (SCENE, "2")),
    (True, False, 2, SCENE, (UPSCALED, ALL_SEGMENTS)),  # the merchant switched scenes off
    (True, True, None, SCENE, (UPSCALED, ALL_SEGMENTS)),  # no segments yet
    (False, True, 2, SCENE, (ORIGINAL, ALL_SEGMENTS)),  # a text-only product
    (True, True, 2, UPSCALED, (UPSCALED, ALL_SEGMENTS)),
])
def test_one_policy_plans_every_card(has_photo, allowed, segment, policy, expected):
    plan = plan_card(has_photo, allowed, segment, policy)
    assert (plan.policy, plan.segment) == expected


def test_policies_with_other_settings_are_other_images():
    assert SCENE.digest() != PresentationPolicy("scene", guidance_scale=5.0).digest()
    assert PresentationPolicy.from_dict(SCENE.to_dict()) == SCENE
    with pytest.raises(PresentationError, match=r"unknown field"):
        PresentationPolicy.from_dict({"kind": "scene", "colour": "red"})


class Request:
    def __init__(self, product_id, content_hash, segment, policy, image, condition, lineage=None, sku=None):
        self.product_id, self.content_hash, self.segment, self.policy = product_id, content_hash, segment, policy
        self.image, self.condition, self.lineage, self.sku = image, condition, lineage, sku
