"""Colour previews: the `colours` a catalogue row lists (features.colours) and the photo recoloured to one of
them (imagegen.presentation.colour_preview), on tiny synthetic studio photos. The endpoints and cards are tested
in tests/service/test_service_colour_previews.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matte_helpers import ellipse_alpha, studio_photo
from PIL import Image

from features.catalogue import load_catalogue
from features.colours import ColourError, colour_named, parse_colours, product_colours
from features.errors import CatalogueError
from imagegen.colour import delta_e, lab_to_srgb, srgb_to_lab
from imagegen.presentation.colour_preview import ColourPreviewRefused, colour_preview, recolour
from imagegen.presentation.compose import matte_photo
from imagegen.provenance import ALGORITHMICALLY_ENHANCED, read_digital_source_type, read_provenance

# every baseColour of fashion-small (../shared/data/fashion-small), so its rows could list their colours as they are
FASHION_SMALL_COLOURS = [
    "Black", "White", "Blue", "Brown", "Grey", "Red", "Green", "Pink", "Navy Blue", "Purple", "Silver", "Yellow",
    "Beige", "Gold", "Maroon", "Orange", "Olive", "Cream", "Steel", "Charcoal", "Peach", "Off White", "Lavender",
    "Skin", "Grey Melange", "Khaki", "Magenta", "Teal", "Tan", "Mustard", "Bronze", "Copper", "Turquoise Blue",
    "Rust", "Burgundy", "Coffee Brown", "Mauve", "Sea Green", "Rose", "Nude", "Mushroom Brown", "Taupe",
    "Fluorescent Green", "Lime Green"]
NAVY = (40, 60, 160)


def navy_product(logo: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A 60 x 80 studio photo of a navy ellipse (with a darker stripe across it), and its true alpha."""
    alpha = ellipse_alpha()
    photo = studio_photo(alpha, NAVY)
    if logo:
        photo[30:37, 24:36] = (245, 245, 245)  # a white print on the chest
    return photo, alpha


def fabric_lab(image: np.ndarray, interior: np.ndarray) -> np.ndarray:
    """The median Lab of the product's interior off its stripe (studio_photo darkens rows 40..43)."""
    fabric = interior.copy()
    fabric[40:44] = False
    return np.median(srgb_to_lab(image[fabric]), axis=0)


# ---- which colours a product comes in ------------------------------------------------------------------------

def test_names_hex_codes_and_named_hex_codes_in_either_separator():
    colours = parse_colours(" Navy Blue|black ; #1A2B3C;Forest:#228b22 | #abc |")
    assert [c.name for c in colours] == ["Navy Blue", "black", "#1a2b3c", "Forest", "#abc"]
    assert [c.hex for c in colours] == ["#1f2a44", "#1f1f1f", "#1a2b3c", "#228b22", "#aabbcc"]
    assert [c.slug for c in colours] == ["navy-blue", "black", "1a2b3c", "forest", "abc"]
    assert parse_colours("teal|LightGoldenrodYellow")[1].rgb == (250, 250, 210)  # CSS names too


def test_every_fashion_small_colour_is_known_and_multi_is_listed_without_a_preview():
    colours = [parse_colours(name)[0] for name in FASHION_SMALL_COLOURS]
    assert all(colour.rgb is not None and colour.no_preview is None for colour in colours)
    multi = parse_colours("Multi|Red")[0]
    assert multi.rgb is None and multi.hex is None
    assert "'Multi' names several colours" in multi.no_preview and "no one colour to preview" in multi.no_preview


def test_the_attribute_is_optional_and_colors_is_read_too():
    assert product_colours({}) == [] and product_colours({"brand": "Acme", "colours": ""}) == []
    assert [c.name for c in product_colours({"colors": "Red;Blue"})] == ["Red", "Blue"]
    assert [c.name for c in product_colours({"colours": "Teal", "colors": "Red"})] == ["Teal"]


def test_a_colour_is_found_by_its_name_or_slug_in_any_case():
    colours = parse_colours("Navy Blue|Forest:#228b22")
    assert colour_named(colours, "navy-blue") is colours[0] and colour_named(colours, "NAVY BLUE") is colours[0]
    assert colour_named(colours, "forest") is colours[1] and colour_named(colours, "red") is None


@pytest.mark.parametrize("cell, message", [
    ("Navy Blue|Periwinkle", "colours: 'Periwinkle' in 'Navy Blue|Periwinkle' is not a colour name this table "
                             "knows; expected colour names separated by '|' or ';'"),
    ("Forest:#22", "colours: 'Forest:#22' in 'Forest:#22' gives '#22' as its hex code; expected # and 3 or 6 hex "
                   "digits, as in Forest:#228b22"),
    ("Bad_Name!:#fff", "colours: the name 'Bad_Name!' in 'Bad_Name!:#fff' is not a colour name; expected a letter"),
    ("Red|red", "colours: 'red' and 'Red' in 'Red|red' name the same colour; expected each colour once"),
    ("|".join(["Red"] * 33), "colours: got 33 entries in"),
])
def test_a_cell_that_cannot_be_read_says_what_was_given_and_what_is_expected(cell, message):
    with pytest.raises(ColourError) as error:
        parse_colours(cell)
    assert str(error.value).startswith(message)


def test_a_catalogue_names_the_line_of_a_bad_colours_cell(sample_catalogue_dir):
    file = sample_catalogue_dir / "catalogue.csv"
    frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    frame["colours"] = ""
    frame.loc[0, "colours"] = "Navy Blue|Off White"
    frame.loc[2, "colours"] = "Navy Blue|Periwinkle"
    frame.to_csv(file, index=False)
    with pytest.raises(CatalogueError) as error:
        load_catalogue(sample_catalogue_dir, check_images=False)
    assert len(error.value.problems) == 1
    assert error.value.problems[0].startswith(f"line 4: product {frame.loc[2, 'product_id']}: colours: 'Periwinkle'")
    frame.loc[2, "colours"] = "Maroon"
    frame.to_csv(file, index=False)
    assert load_catalogue(sample_catalogue_dir, check_images=False).products["colours"].iloc[0] == "Navy Blue|Off White"


# ---- the recolouring --------------------------------------------------------------------------------------------

def test_lab_to_srgb_inverts_srgb_to_lab():
    rgb = np.random.default_rng(0).integers(0, 256, (500, 3)).astype(np.uint8)
    assert np.array_equal(lab_to_srgb(srgb_to_lab(rgb)), rgb)


@pytest.mark.parametrize("target", ["Red", "Off White", "Black", "Mustard", "#228b22"])
def test_the_product_moves_to_the_target_and_the_backdrop_stays_bit_for_bit(target):
    photo, alpha = navy_product()
    matted, _ = matte_photo(photo)
    colour = parse_colours(target)[0]
    image, own = recolour(photo, matted.alpha, colour.rgb)
    wanted = srgb_to_lab(np.asarray(colour.rgb, dtype=np.uint8))
    assert delta_e(own, srgb_to_lab(np.asarray(NAVY, dtype=np.uint8))) < 5  # it saw the navy
    assert delta_e(fabric_lab(image, matted.product), wanted) < 2  # and moved it onto the target
    backdrop = matted.alpha == 0
    assert backdrop.mean() > 0.3 and np.array_equal(image[backdrop], photo[backdrop])


def test_shading_is_kept_and_a_print_far_from_the_colour_is_left_alone():
    photo, alpha = navy_product(logo=True)
    matted, _ = matte_photo(photo)
    image, _ = recolour(photo, matted.alpha, parse_colours("Mustard")[0].rgb)
    lightness = srgb_to_lab(image)[..., 0]
    stripe, body = lightness[41:44, 22:38], lightness[55:65, 22:38]  # studio_photo darkens rows 40..43
    assert stripe.mean() < body.mean() - 10  # the darker stripe is still darker
    assert np.array_equal(image[31:36, 25:35], photo[31:36, 25:35])  # the white print is the photo's own


def test_a_preview_is_at_card_size_labelled_and_says_how_it_was_made():
    photo, _ = navy_product()
    preview = colour_preview(Image.fromarray(photo), parse_colours("Maroon")[0], source_hash="abc", product_id="SKU-7")
    assert preview.image.shape == (320, 240, 3)  # 60 x 80 enlarged plainly to 240 px on the long side, as cards are
    record = preview.record
    assert record.label == "Colour preview: Maroon" and record.ai_generated is False
    assert record.digital_source_type == ALGORITHMICALLY_ENHANCED and record.edit == "colour_preview"
    assert record.parameters["target"] == "#6d1a2a" and record.parameters["matte"] == "pseudo-mask"
    assert record.source_product_hash == "abc" and record.product_id == "SKU-7"
    data = preview.png()
    assert read_provenance(data) == record and read_digital_source_type(data) == ALGORITHMICALLY_ENHANCED


def test_without_a_trusted_matte_there_is_no_preview():
    alpha = ellipse_alpha()
    busy = np.random.default_rng(1).integers(0, 256, (80, 60, 3)).astype(np.float32)  # no plain backdrop
    photo = (alpha[..., None] * np.asarray(NAVY) + (1 - alpha[..., None]) * busy).astype(np.uint8)
    with pytest.raises(ColourPreviewRefused, match="no colour preview of this photo: no trained matte installed"):
        colour_preview(Image.fromarray(photo), parse_colours("Red")[0], matte_model=None)


def test_a_name_of_no_single_colour_is_refused_with_its_reason():
    photo, _ = navy_product()
    with pytest.raises(ColourPreviewRefused, match="'Multi' names several colours"):
        colour_preview(Image.fromarray(photo), parse_colours("Multi")[0])
