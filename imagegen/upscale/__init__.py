"""Crisp cards: a small 4x super-resolution model for catalogue photos too small to serve sharply.

    model = load_upscaler("data/models/embedded-upscaler")
    result = upscale_for_card(model, photo)      # photos >= 240 px on the long side come back untouched
    result.image, result.upscaled, result.factor, result.model_version, result.steps   # for provenance
"""
from imagegen.upscale.apply import (MIN_LONG_SIDE, UpscaleResult, card_size, enlarged_plainly, plain_card_png,
                                   upscale, upscale_for_card)
from imagegen.upscale.model import SCALE, Upscaler, UpscalerConfig, load_upscaler, model_version, save_upscaler

__all__ = ["MIN_LONG_SIDE", "SCALE", "UpscaleResult", "Upscaler", "UpscalerConfig", "card_size", "enlarged_plainly",
           "load_upscaler", "model_version", "plain_card_png", "save_upscaler", "upscale", "upscale_for_card"]
