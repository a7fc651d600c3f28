"""The scene generator: backdrops painted around a kept product, conditioned on a point in CLIP space."""
from imagegen.scene.generator import SceneGenerator, latent_keep_mask, load_scene_generator

__all__ = ["SceneGenerator", "latent_keep_mask", "load_scene_generator"]
