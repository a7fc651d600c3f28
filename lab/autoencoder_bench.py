"""`tailorcard bench autoencoder`: can a scene generator's autoencoder (movq) carry plain coloured backdrops?

A scene generator paints latents and its movq decodes them, so a colour the movq cannot reconstruct is a colour
the generator cannot paint, whatever it is conditioned on. Each of LEVELS^3 plain colours (every channel at
each level) fills a square at the movq's size; it is encoded and decoded as the inpainting pipeline decodes
(unquantised latents). Reported: the CIELAB delta E between the square's colour and the decoded square's mean
colour (median, and the share of colours off by more than 10), the decoded square's noise (the mean of its
channels' standard deviations, in 8-bit levels) and the worst colour.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from imagegen.colour import delta_e, srgb_to_lab
from imagegen.training.autoencoder import encode_images
from imagegen.training.data import from_model_range

LEVELS = (0, 64, 128, 192, 255)
FAR = 10.0  # delta E over which a colour is plainly another colour


@torch.no_grad()
def plain_colour_reconstruction(movq) -> dict:
    colours = np.array(list(itertools.product(LEVELS, repeat=3)), dtype=np.uint8)
    size = int(movq.config.sample_size)
    squares = torch.from_numpy(np.ascontiguousarray(np.broadcast_to(colours[:, None, None], (len(colours), size, size, 3))))
    decoded = movq.eval().decode(encode_images(movq, squares), force_not_quantize=True).sample
    pixels = from_model_range(decoded).reshape(len(colours), -1, 3).numpy().astype(np.float64)
    means = pixels.mean(axis=1)
    errors = delta_e(srgb_to_lab(colours.astype(np.float64)), srgb_to_lab(means))
    noise = pixels.std(axis=1).mean(axis=1)
    worst = int(np.argmax(errors))
    return {"plain_colours": len(colours), "median_delta_e": round(float(np.median(errors)), 3),
            "share_off_by_over_10": round(float(np.mean(errors > FAR)), 4),
            "median_noise": round(float(np.median(noise)), 2),
            "worst": {"colour": colours[worst].tolist(), "decoded_as": np.round(means[worst]).astype(int).tolist(),
                      "delta_e": round(float(errors[worst]), 3)}}
