"""Load an open_clip model from a spec string and encode images and texts with it."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import open_clip
import torch
from PIL import Image
from tqdm.auto import tqdm

from features.encoder.spec import EncoderSpec, parse_encoder_spec
from features.errors import ModelSpecError
from features.images import pad_to_square

CONFIG_DIR = Path(__file__).parent / "model_configs"
open_clip.add_model_config(CONFIG_DIR)  # our architectures, by file name (as open_clip's own)
PROGRESS_THRESHOLD = 2048  # show a progress bar only for runs long enough to wait on


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class ClipEncoder:
    """A CLIP model with its preprocessing and tokenizer. Outputs unit float32 vectors."""

    def __init__(self, model, preprocess, tokenizer, space_id: str, spec: str = "", device=None):
        self.device = torch.device(device) if device else default_device()
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.space_id = space_id
        self.spec = spec

    @property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[1]) if hasattr(self.model, "text_projection") else \
            int(self.model.visual.output_dim)

    @property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    def encode_images(self, images: Sequence[Image.Image], batch_size: int = 256, progress: bool | None = None) -> np.ndarray:
        """Pad each image to a white square, preprocess, encode; rows are unit vectors."""
        batches = (torch.stack([self.preprocess(pad_to_square(im)) for im in chunk]) for chunk in _chunks(images, batch_size))
        return self._run(batches, len(images), batch_size, self.model.encode_image, progress, "images")

    def encode_texts(self, texts: Sequence[str], batch_size: int = 1024, progress: bool | None = None) -> np.ndarray:
        batches = (self.tokenizer(list(chunk)) for chunk in _chunks(texts, batch_size))
        return self._run(batches, len(texts), batch_size, self.model.encode_text, progress, "texts")

    @torch.inference_mode()
    def _run(self, batches: Iterable[torch.Tensor], total: int, batch_size: int, encode, progress, unit) -> np.ndarray:
        if total == 0:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        show = total >= PROGRESS_THRESHOLD if progress is None else progress
        out = []
        with tqdm(total=total, disable=not show, unit=unit, desc=f"encoding {unit}") as bar:
            for batch in batches:
                features = encode(batch.to(self.device)).float()
                out.append(torch.nn.functional.normalize(features, dim=-1).cpu().numpy())
                bar.update(len(batch))
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)


def load_encoder(spec: str = "embedded", device=None) -> ClipEncoder:
    """Build the encoder a spec string names. Raises ModelSpecError with the reason."""
    parsed = parse_encoder_spec(spec)
    if parsed.source == "local-dir":
        model, preprocess = _load_local_dir(parsed)
        space_id = _local_space_id(Path(parsed.location))
    else:
        model, preprocess = _load_openclip(parsed)
        space_id = f"openclip:{parsed.location}/{parsed.tag}"
    tokenizer = open_clip.get_tokenizer(parsed.open_clip_name)
    return ClipEncoder(model, preprocess, tokenizer, space_id, spec=parsed.text, device=device)


def _load_local_dir(parsed: EncoderSpec):
    folder = Path(parsed.location)
    if not (folder / "open_clip_config.json").is_file():
        raise ModelSpecError(f"encoder spec {parsed.text!r}: {folder} has no open_clip_config.json "
                             "(expected an open_clip checkpoint folder: config plus weights)")
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")) and not any(folder.glob("*.pt*")):
        raise ModelSpecError(f"encoder spec {parsed.text!r}: {folder} has a config but no weights file")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(parsed.open_clip_name, device="cpu")
    except Exception as exc:
        raise ModelSpecError(f"encoder spec {parsed.text!r}: cannot load ({type(exc).__name__}: {exc})") from None
    return model, preprocess


def _load_openclip(parsed: EncoderSpec):
    if parsed.location not in open_clip.list_models():
        raise ModelSpecError(f"encoder spec {parsed.text!r}: unknown open_clip architecture {parsed.location!r}")
    if parsed.tag not in open_clip.list_pretrained_tags_by_model(parsed.location):
        raise ModelSpecError(f"encoder spec {parsed.text!r}: open_clip has no pretrained tag {parsed.tag!r} for "
                             f"{parsed.location}; known: {open_clip.list_pretrained_tags_by_model(parsed.location)}")
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for the network at load time
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(parsed.location, pretrained=parsed.tag, device="cpu")
    except Exception as exc:
        raise ModelSpecError(
            f"encoder spec {parsed.text!r}: pretrained weights are not available offline "
            f"({type(exc).__name__}: {str(exc)[:200]}). Download them into the Hugging Face cache on a "
            "connected machine, or use 'local-dir:PATH' / 'embedded'") from None
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous
    return model, preprocess


def _local_space_id(folder: Path) -> str:
    """A local model's embedding space: named in its config, else the hash of its weights."""
    config = json.loads((folder / "open_clip_config.json").read_text())
    named = config.get("tailorcard", {}).get("space_id")
    if named:
        return named
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin")) or sorted(folder.glob("*.pt*"))
    return "sha256:" + hashlib.sha256(weights[0].read_bytes()).hexdigest()[:16]


def _chunks(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]
