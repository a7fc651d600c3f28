"""Product mattes: a product photo's foreground alpha, so the product stays bit for bit itself over new scenes.

    alpha, confidence = matte(photo)            # uint8 [h, w, 3] -> float32 [h, w], MatteConfidence
    if confidence.sure:
        card = composite(photo, alpha, scene)   # edges decontaminated; alpha == 1 pixels are the photo's
    else:
        ...                                     # keep the original presentation; confidence.reason says why
"""
from imagegen.matte.foreground import composite, decontaminate
from imagegen.matte.inference import MatteConfidence, embedded_matte_model, judge_matte, matte
from imagegen.matte.model import MatteConfig, MatteNet, load_matte_model, save_matte_model
from imagegen.matte.pseudo_mask import PseudoMask, pseudo_mask

__all__ = ["MatteConfidence", "MatteConfig", "MatteNet", "PseudoMask", "composite", "decontaminate",
           "embedded_matte_model", "judge_matte", "load_matte_model", "matte", "pseudo_mask", "save_matte_model"]
