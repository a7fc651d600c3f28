"""Tiny generator components for tests (the shape of diffusers' own Kandinsky 2.2 test dummies)."""
import numpy as np
import torch

from imagegen import Generator, GeneratorSettings
from imagegen.components import build_movq, build_training_scheduler, build_unet
from imagegen.scene import SceneGenerator

EMBED_DIM = 16  # the tiny test encoder's width (tailorcard-clip-test)


def tiny_generator(space_id="test", **settings) -> Generator:
    torch.manual_seed(0)
    settings = {"image_size": 16, "num_inference_steps": 2, "condition_scale": 4.0} | settings
    return Generator(build_unet("unet-tiny", embed_dim=EMBED_DIM), build_movq("movq-tiny"), build_training_scheduler(),
                     GeneratorSettings(space_id=space_id, embed_dim=EMBED_DIM, **settings), device="cpu")


def tiny_scenes(condition_bank=None, **settings) -> SceneGenerator:
    """A tiny Kandinsky-inpainting scene generator (random weights) for tests."""
    torch.manual_seed(0)
    settings = {"space_id": "test", "image_size": 16, "num_inference_steps": 2, "condition_scale": 4.0} | settings
    return SceneGenerator(build_unet("unet-inpaint-tiny", embed_dim=EMBED_DIM), build_movq("movq-tiny"),
                          build_training_scheduler(), GeneratorSettings(embed_dim=EMBED_DIM, **settings), device="cpu",
                          condition_bank=condition_bank)


def unit_embeddings(n, seed=0, dim=EMBED_DIM) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
