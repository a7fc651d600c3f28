"""The generator: a Kandinsky 2.2 decoder (unet + movq + scheduler) behind diffusers' own pipelines.

    generator = load_generator("embedded")
    generator.check_encoder(encoder)                  # refuses an encoder of another embedding space
    images = generator.generate(encoder.encode_images(photos))          # uint8 [n, 64, 64, 3]
    variants = generator.vary(photos, shopper_taste_vectors, strength=0.6)

On disk a generator is a `KandinskyV22Pipeline.save_pretrained` folder plus `tailorcard_generator.json`
(its embedding space and sampling defaults), so a real Kandinsky 2.2 decoder drops in with `local-dir:`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from diffusers import DDPMScheduler, KandinskyV22Img2ImgPipeline, KandinskyV22Pipeline, UNet2DConditionModel, VQModel
from PIL import Image

from features.checks import check_fields, from_fields, number, whole
from features.errors import ModelSpecError
from features.images import pad_to_square
from imagegen.components import SAMPLERS, build_sampler
from imagegen.spec import check_same_space, parse_generator_spec

SETTINGS_FILE = "tailorcard_generator.json"
CONDITIONINGS = ("embedding", "added")
# A Kandinsky 2.2 decoder folder without our settings file: its image embeddings are ViT-bigG-14's.
KANDINSKY_SPACE_ID = "openclip:ViT-bigG-14/laion2b_s39b_b160k"


@dataclass
class GeneratorSettings:
    space_id: str  # the encoder embedding space the generator is conditioned on
    embed_dim: int
    condition_scale: float = 1.0  # embeddings are multiplied by this before the UNet (as in training)
    image_size: int = 64
    sampler: str = "dpm++"
    num_inference_steps: int = 20
    guidance_scale: float = 3.0
    # "embedding": a condition is a point in the space (a product's, a taste's); "added": what a backdrop adds
    # around a kept product (a scene generator's), of typical length added_norm
    conditioning: str = "embedding"
    added_norm: float = 1.0

    def __post_init__(self):
        self.check_inputs()

    def check_inputs(self) -> None:
        check_fields(self, ModelSpecError, (
            ("space_id", isinstance(self.space_id, str) and self.space_id != "", "a non-empty embedding space id"),
            ("embed_dim", whole(self.embed_dim, 1), "an integer >= 1"),
            ("condition_scale", number(self.condition_scale, 0, above=True), "a number > 0"),
            ("image_size", whole(self.image_size, 8) and self.image_size % 8 == 0, "a multiple of 8, at least 8"),
            ("sampler", self.sampler in tuple(SAMPLERS), f"one of {sorted(SAMPLERS)}"),
            ("num_inference_steps", whole(self.num_inference_steps, 1), "an integer >= 1"),
            ("guidance_scale", number(self.guidance_scale, 0), "a number >= 0"),
            ("conditioning", self.conditioning in CONDITIONINGS, f"one of {list(CONDITIONINGS)}"),
            ("added_norm", number(self.added_norm, 0, above=True), "a number > 0"),
        ))

    def save(self, folder: Path) -> None:
        (Path(folder) / SETTINGS_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path, unet_config) -> "GeneratorSettings":
        path = Path(folder) / SETTINGS_FILE
        if not path.is_file():  # a third-party Kandinsky 2.2 decoder
            return cls(KANDINSKY_SPACE_ID, int(unet_config.encoder_hid_dim), image_size=512,
                       num_inference_steps=50, guidance_scale=4.0)
        return from_fields(cls, json.loads(path.read_text()), str(path), ModelSpecError)


class Decoder:
    """What the generator and the scene generator (imagegen.scene) share: a Kandinsky 2.2 decoder (unet, movq,
    training scheduler, settings) on one device behind a diffusers pipeline of `pipeline_class`, conditioned
    in one embedding space, saved in that pipeline's layout."""
    pipeline_class = KandinskyV22Pipeline

    def __init__(self, unet: UNet2DConditionModel, movq: VQModel, training_scheduler, settings: GeneratorSettings,
                 name: str, device: str | torch.device | None = None):
        self.settings, self.name, self.training_scheduler = settings, name, training_scheduler
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.pipeline = self.sampling_pipeline(self.pipeline_class, unet.to(self.device).eval(),
                                               movq.to(self.device).eval())

    def sampling_pipeline(self, pipeline_class, unet: UNet2DConditionModel, movq: VQModel):
        """A pipeline of `pipeline_class` on these weights, sampling with the settings' sampler, no progress bars."""
        pipeline = pipeline_class(unet=unet, movq=movq,
                                  scheduler=build_sampler(self.training_scheduler, self.settings.sampler))
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    @property
    def unet(self) -> UNet2DConditionModel:
        return self.pipeline.unet

    @property
    def movq(self) -> VQModel:
        return self.pipeline.movq

    @property
    def space_id(self) -> str:
        return self.settings.space_id

    def check_encoder(self, encoder) -> None:
        check_same_space(encoder.space_id, self.space_id, self.name)

    def save(self, folder: str | Path, dtype: torch.dtype = torch.float16) -> None:
        save_decoder(self.pipeline_class, self, folder, dtype)


class Generator(Decoder):
    """Draws a product image for an embedding (text-to-image: `pipeline`) or redraws a photo toward one (`img2img`,
    on the same unet and movq)."""

    def __init__(self, unet: UNet2DConditionModel, movq: VQModel, training_scheduler, settings: GeneratorSettings,
                 name: str = "generator", device: str | torch.device | None = None):
        super().__init__(unet, movq, training_scheduler, settings, name, device)
        self.img2img = self.sampling_pipeline(KandinskyV22Img2ImgPipeline, self.unet, self.movq)

    def generate(self, embeddings: np.ndarray, *, guidance_scale: float | None = None,
                 num_inference_steps: int | None = None, seed: int = 0, batch_size: int = 32) -> np.ndarray:
        """One image per embedding row (zeros = unconditional), as uint8 [n, size, size, 3]."""
        embeds = self.embeds(embeddings)
        out = []
        for start in range(0, len(embeds), batch_size):
            chunk = embeds[start:start + batch_size]
            out.append(self.pipeline(
                image_embeds=chunk, negative_image_embeds=torch.zeros_like(chunk),
                height=self.settings.image_size, width=self.settings.image_size,
                num_inference_steps=num_inference_steps or self.settings.num_inference_steps,
                guidance_scale=self.settings.guidance_scale if guidance_scale is None else guidance_scale,
                generator=torch.Generator("cpu").manual_seed(seed + start), output_type="np").images)
        return to_uint8(out, self.settings.image_size)

    def vary(self, images: list[Image.Image], embeddings: np.ndarray, *, strength: float = 0.5,
             guidance_scale: float | None = None, num_inference_steps: int | None = None,
             seed: int | Sequence[int] = 0) -> np.ndarray:
        """Each photo redrawn toward its embedding row (img2img); `strength` 0 keeps the photo, 1 ignores it.

        `seed`: one seed for the batch, or one per image (images with the same seed get the same noise,
        so two conditions can be compared on equal terms).
        """
        embeds = self.embeds(embeddings)
        if len(images) != len(embeds):
            raise ValueError(f"vary needs one embedding per image; got {len(images)} images and {len(embeds)} embeddings")
        if not isinstance(seed, int) and len(seed) != len(images):
            raise ValueError(f"vary needs one seed per image or one int; got {len(seed)} seeds for {len(images)} images")
        noise = (torch.Generator("cpu").manual_seed(seed) if isinstance(seed, int)
                 else [torch.Generator("cpu").manual_seed(int(s)) for s in seed])
        size = self.settings.image_size
        result = self.img2img(
            image_embeds=embeds, image=[pad_to_square(image, size) for image in images],
            negative_image_embeds=torch.zeros_like(embeds), height=size, width=size, strength=strength,
            num_inference_steps=num_inference_steps or self.settings.num_inference_steps,
            guidance_scale=self.settings.guidance_scale if guidance_scale is None else guidance_scale,
            generator=noise, output_type="np").images
        return to_uint8([result], size)

    def embeds(self, embeddings: np.ndarray) -> torch.Tensor:
        return scaled_conditions(embeddings, self.settings, self.unet, self.name)


def load_generator(spec: str = "embedded", device: str | torch.device | None = None) -> Generator:
    """Build the generator a spec string names. Raises ModelSpecError saying what is missing."""
    unet, movq, scheduler, settings, name = load_decoder_parts(spec)
    return Generator(unet, movq, scheduler, settings, name=name, device=device)


def load_decoder_parts(spec: str, kind: str = "generator"):
    """(unet, movq, training scheduler, settings, name) of a Kandinsky 2.2 decoder folder a spec names;
    `kind` ("generator" or "scene") decides which shipped folder the spec 'embedded' means."""
    parsed = parse_generator_spec(spec, kind)
    folder = parsed.folder
    if not (folder / "model_index.json").is_file():
        raise ModelSpecError(f"generator spec {parsed.text!r}: {folder} has no model_index.json "
                             "(expected a Kandinsky 2.2 decoder folder: unet/, movq/, scheduler/)")
    try:
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=torch.float32)
        movq = VQModel.from_pretrained(folder / "movq", torch_dtype=torch.float32)
        scheduler = DDPMScheduler.from_pretrained(folder, subfolder="scheduler")
    except (OSError, ValueError, KeyError) as exc:
        raise ModelSpecError(f"generator spec {parsed.text!r}: cannot load {folder} ({type(exc).__name__}: {exc})") from None
    return unet, movq, scheduler, GeneratorSettings.load(folder, unet.config), f"generator {parsed.text!r}"


def scaled_conditions(embeddings: np.ndarray, settings: GeneratorSettings, unet, name: str) -> torch.Tensor:
    """Condition rows as the UNet takes them: checked [n, embed_dim], scaled as in training, on its device."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[1] != settings.embed_dim:
        raise ValueError(f"{name} expects embeddings of shape [n, {settings.embed_dim}]; got {embeddings.shape}")
    return torch.from_numpy(embeddings * settings.condition_scale).to(unet.device, unet.dtype)


def save_decoder(pipeline_class, decoder, folder: str | Path, dtype: torch.dtype = torch.float16) -> None:
    """A decoder (unet, movq, training scheduler, settings) in diffusers' save_pretrained layout of
    `pipeline_class`, plus our settings file; weights stored in `dtype` (fp16 halves the files; loading casts back)."""
    folder = Path(folder)
    unet, movq = (_copy_as(model, dtype) for model in (decoder.unet, decoder.movq))
    pipeline_class(unet=unet, scheduler=decoder.training_scheduler, movq=movq).save_pretrained(folder)
    decoder.settings.save(folder)


def _copy_as(model, dtype: torch.dtype):
    copy = type(model).from_config(model.config)
    copy.load_state_dict(model.state_dict())
    # nn.Module.to, not ModelMixin.to: a storage cast, so skip diffusers' inference-precision warning
    return torch.nn.Module.to(copy, dtype)


def to_uint8(batches: list[np.ndarray], size: int) -> np.ndarray:
    if not batches:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    return (np.concatenate(batches) * 255.0).round().clip(0, 255).astype(np.uint8)
