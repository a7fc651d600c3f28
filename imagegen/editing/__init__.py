"""Editing product photos without touching the product: background inpainting and reference-style transfer."""
from imagegen.editing.inpaint import composite, inpaint_background, repair_background, replace_background
from imagegen.editing.masks import background_mask, latent_mask
from imagegen.editing.style import transfer_style

__all__ = ["background_mask", "composite", "inpaint_background", "latent_mask", "repair_background",
           "replace_background", "transfer_style"]
