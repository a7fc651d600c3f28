"""How a product is presented on a card: its own photo at card size, or the matted product (its pixels untouched)
over a backdrop painted for the shopper's taste segment.

    presenter = build_presenter("embedded", encoder)   # scene generator + shipped matte and upscaler
    maker = PresentationMaker(presenter, VariantStore(root))
    plan = plan_card(has_photo, allowed, segment, policy)
"""
from __future__ import annotations

from features.model_spec import embedded_dir
from imagegen.presentation.maker import PresentationMaker
from imagegen.presentation.policy import (ALL_SEGMENTS, ORIGINAL, SCENE, UPSCALED, CardPlan, PresentationPolicy,
                                          plan_card)
from imagegen.presentation.presenter import Presented, Presenter

def build_presenter(scene_spec: str | None = "embedded", encoder=None, device: str = "cpu",
                    matte_spec: str = "embedded") -> Presenter:
    """A Presenter from a scene generator spec (None: no scenes), the encoder of its space, a matte spec (the shipped
    matte when data/models has it, or 'local-dir:PATH': a candidate judged on cards) and the shipped upscaler."""
    from imagegen.matte.inference import installed_matte_model
    from imagegen.matte.model import load_matte_model
    from imagegen.scene import load_scene_generator
    from imagegen.upscale import load_upscaler
    from features.model_spec import parse_model_spec
    scenes = load_scene_generator(scene_spec, device=device) if scene_spec else None
    matte_model = (installed_matte_model() if matte_spec == "embedded"
                   else load_matte_model(parse_model_spec(matte_spec, "matte").folder))
    upscaler = load_upscaler(embedded_dir("upscaler")) if embedded_dir("upscaler").is_dir() else None
    return Presenter(scenes, matte_model, upscaler, encoder)


__all__ = ["ALL_SEGMENTS", "CardPlan", "ORIGINAL", "PresentationMaker", "PresentationPolicy", "Presented",
           "Presenter", "SCENE", "UPSCALED", "build_presenter", "plan_card"]
