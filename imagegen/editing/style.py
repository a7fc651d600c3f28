"""Reference-style transfer: the product redrawn toward a style photo's embedding, under the fidelity gate.

The condition is slerp(product embedding, style embedding, weight): a personalised variant whose
"taste" is one reference image, so the same gate keeps the product what it is (or returns the photo).
"""
from __future__ import annotations

from dataclasses import replace

from PIL import Image

from imagegen.variants.judge import Judge
from imagegen.variants.params import VariantParams
from imagegen.variants.personalize import Variant, personalize


def transfer_style(generator, judge: Judge, photo: Image.Image, style_image: Image.Image, *, weight: float = 0.5,
                   params: VariantParams = VariantParams()) -> Variant:
    style = judge.embed([style_image])[0]
    return personalize(generator, judge, photo, style, replace(params, taste_weight=weight))
