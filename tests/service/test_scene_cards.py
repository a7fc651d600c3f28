"""Scene cards end to end through the real presentation store: queued, painted, labelled, the product untouched."""
import io

import numpy as np
from PIL import Image
from imagegen_helpers import tiny_scenes
from service_helpers import auth, make_app, shopper_wanting_variants

from imagegen.presentation import PresentationMaker, Presenter
from imagegen.presentation.compose import matte_photo
from imagegen.provenance import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, read_digital_source_type, read_provenance
from imagegen.variants import VariantStore

STOREFRONT = auth("storefront")


def test_a_shoppers_card_becomes_a_labelled_scene_with_the_product_untouched(database_url, tiny_encoder, tmp_path):
    presenter = Presenter(tiny_scenes(space_id=tiny_encoder.space_id), encoder=tiny_encoder)
    app = make_app(database_url, tiny_encoder, VARIANT_STORE=PresentationMaker(presenter, VariantStore(tmp_path)))
    client = app.test_client()
    user, _ = shopper_wanting_variants(app, 2)
    client.get(f"/v1/users/{user}/cards?n=2", headers=STOREFRONT)
    app.extensions["tailorcard"].jobs.run_pending()
    cards = client.get(f"/v1/users/{user}/cards?n=2", headers=STOREFRONT).json["cards"]
    scenes = [card for card in cards if card["variant"] and card["variant"]["ai_generated"]]
    assert scenes, [card["variant"] for card in cards]
    scene = scenes[0]
    assert scene["variant"]["label"] == "AI-generated background"
    png = client.get(scene["image_url"]).data
    assert read_digital_source_type(png) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    # the record in the file names the product as the store does (not its numeric key), as the endpoint does
    described = client.get(scene["variant"]["provenance_url"]).json
    assert read_provenance(png).product_id == described["provenance"]["product_id"] == scene["product"]["id"]
    photo = Image.open(io.BytesIO(client.get(f"/v1/items/{scene['product']['id']}/image").data)).convert("RGB")
    matted, _ = matte_photo(presenter.at_card_size(photo)[0])
    card = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert card.shape[0] >= 240 and np.array_equal(card[matted.product], matted.pixels[matted.product])
