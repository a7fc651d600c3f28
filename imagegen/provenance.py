"""Where a generated image came from, carried inside the PNG and as JSON, so storefronts can label it.

    record = Provenance(ai_generated=True, generator_version=..., ...)
    save_png(image, path, record)          # PNG with text chunks
    read_provenance(path)                  # -> Provenance | None
    record.to_dict()                       # the JSON the API exposes

The PNG carries the full record as JSON (`tailorcard:provenance`) plus two plain chunks any PNG tool
shows: `AI-Generated` and the IPTC digital source type for media made by a trained model.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from features.errors import TailorcardError

SCHEMA = "tailorcard.provenance/1"
PNG_KEY = "tailorcard:provenance"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


class ProvenanceError(TailorcardError):
    """A provenance record is malformed (a field missing or of the wrong kind)."""


@dataclass(frozen=True)
class Provenance:
    ai_generated: bool
    generator_version: str
    encoder_version: str  # the encoder's embedding space id
    seed: int | None
    source_product_hash: str  # Catalogue.content_hash of the photo it was drawn from
    segment: str  # the taste segment it was made for
    parameters: dict
    product_id: int | None = None
    edit: str = "personalized"  # or "background", "style"
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    digital_source_type: str = TRAINED_ALGORITHMIC_MEDIA
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "Provenance":
        if values.get("schema") != SCHEMA:
            raise ProvenanceError(f"provenance schema is {values.get('schema')!r}; expected {SCHEMA!r}")
        try:
            return cls(**values)
        except TypeError as exc:
            raise ProvenanceError(f"malformed provenance record ({exc}); got fields {sorted(values)}") from None

    def png_info(self) -> PngImagePlugin.PngInfo:
        info = PngImagePlugin.PngInfo()
        info.add_itxt(PNG_KEY, self.to_json())
        info.add_text("AI-Generated", "true" if self.ai_generated else "false")
        info.add_text("DigitalSourceType", self.digital_source_type)
        return info


def png_bytes(image: np.ndarray | Image.Image, record: Provenance) -> bytes:
    buffer = io.BytesIO()
    _as_pil(image).save(buffer, format="PNG", pnginfo=record.png_info())
    return buffer.getvalue()


def save_png(image: np.ndarray | Image.Image, path: str | Path, record: Provenance) -> None:
    Path(path).write_bytes(png_bytes(image, record))


def read_provenance(source: str | Path | bytes) -> Provenance | None:
    """The record in a PNG (a path or its bytes); None if the PNG carries none."""
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
        text = image.text.get(PNG_KEY) if hasattr(image, "text") else None
    return None if text is None else Provenance.from_dict(json.loads(text))


def generator_version(generator) -> str:
    """A short hash of what decides the generator's images: settings, configs and weights."""
    digest = hashlib.sha256(json.dumps(asdict(generator.settings), sort_keys=True).encode())
    for model in (generator.unet, generator.movq):
        digest.update(json.dumps(dict(model.config), sort_keys=True, default=str).encode())
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).numpy().tobytes())
    return digest.hexdigest()[:16]


def _as_pil(image: np.ndarray | Image.Image) -> Image.Image:
    return image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
