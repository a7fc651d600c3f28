"""Where a generated image came from, carried inside the image file and as JSON, so storefronts can label it.

    record = Provenance(ai_generated=True, generator_version=..., edit="background", ...)
    save_png(image, path, record)          # PNG with XMP and text chunks
    read_provenance(path)                  # -> Provenance | None
    read_digital_source_type(data)         # the IPTC code in the file's XMP (PNG, JPEG or WebP)
    record.to_dict()                       # the JSON the API exposes

The PNG carries the full record as JSON (`tailorcard:provenance`), the IPTC digital source type as XMP
(an iTXt chunk `XML:com.adobe.xmp` holding `Iptc4xmpExt:DigitalSourceType`, what photo tools and
platforms read), and two plain chunks any PNG tool shows: `AI-Generated` and `DigitalSourceType`.
JPEG and WebP (`image_bytes(..., format="JPEG")`) carry the same XMP packet.

The digital source type follows the record's kind of edit (`edit`):
- "personalized", "style": the whole image is drawn by a trained model: `trainedAlgorithmicMedia`;
- "background", "composite": the product photo's own pixels (matted) over a generated background:
  `compositeWithTrainedAlgorithmicMedia`, labelled "AI-generated background";
- "upscaled": the product photo enlarged, nothing added: `algorithmicallyEnhanced`, "Photo enlarged";
- "colour_preview": the product photo recoloured by a fixed algorithm (no trained model) to a colour its
  catalogue row lists: `algorithmicallyEnhanced` (IPTC: "modification or correction by algorithm"),
  labelled "Colour preview: <colour>" (imagegen.presentation.colour_preview).
A record read from disk keeps the type it was written with (records older than composites carry
`trainedAlgorithmicMedia`, which they were).

Records are additive: fields added since schema 1 (`label`, `upscaled`, `c2pa`) have defaults, so a record
written before them still loads.
"""
from __future__ import annotations

import hashlib
import io
import json
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from features.errors import TailorcardError

SCHEMA = "tailorcard.provenance/1"
PNG_KEY = "tailorcard:provenance"
IPTC_DIGITAL_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC_DIGITAL_SOURCE_TYPES + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC_DIGITAL_SOURCE_TYPES + "compositeWithTrainedAlgorithmicMedia"
ALGORITHMICALLY_ENHANCED = IPTC_DIGITAL_SOURCE_TYPES + "algorithmicallyEnhanced"
# edit -> (IPTC digital source type, the label a card shows)
EDITS = {
    "personalized": (TRAINED_ALGORITHMIC_MEDIA, "AI-generated image"),
    "style": (TRAINED_ALGORITHMIC_MEDIA, "AI-generated image"),
    "background": (COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, "AI-generated background"),
    "composite": (COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, "AI-generated background"),
    "upscaled": (ALGORITHMICALLY_ENHANCED, "Photo enlarged"),
    "colour_preview": (ALGORITHMICALLY_ENHANCED, "Colour preview"),  # the record's label names the colour
}
XMP_KEY = "XML:com.adobe.xmp"  # the PNG iTXt keyword XMP lives under (XMP spec part 3)
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "JPG": "JPEG", "WEBP": "WEBP"}


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
    product_id: str | None = None  # the product as its store names it (records before 2026-12-08: its numeric key)
    edit: str = "personalized"  # a key of EDITS: "personalized", "style", "background", "composite", "upscaled", ...
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    digital_source_type: str | None = None  # None: the one the edit calls for (EDITS)
    schema: str = SCHEMA
    label: str | None = None  # what a card says, e.g. "AI-generated background"; None: the edit's label
    # how the image was upscaled: {"factor": 4, "model_version": "...", ...more keys allowed}; None: it was not
    upscaled: dict | None = None
    # the C2PA manifest signed into the file ({"alg", "issuer", "common_name", ...}); None: none (no signing key)
    c2pa: dict | None = None

    def __post_init__(self):
        known = EDITS.get(self.edit)
        if known is None and (self.digital_source_type is None or self.label is None):
            raise ProvenanceError(f"edit is {self.edit!r}; expected one of {sorted(EDITS)} "
                                  "(or give digital_source_type and label)")
        if self.digital_source_type is None:
            object.__setattr__(self, "digital_source_type", known[0])
        if self.label is None:
            object.__setattr__(self, "label", known[1])
        if not str(self.digital_source_type).startswith(IPTC_DIGITAL_SOURCE_TYPES):
            raise ProvenanceError(f"digital_source_type is {self.digital_source_type!r}; expected an IPTC code "
                                  f"starting {IPTC_DIGITAL_SOURCE_TYPES}")
        if self.upscaled is not None and not (
                isinstance(self.upscaled, dict) and isinstance(self.upscaled.get("factor"), (int, float))
                and not isinstance(self.upscaled.get("factor"), bool) and self.upscaled["factor"] > 0
                and isinstance(self.upscaled.get("model_version"), str)):
            raise ProvenanceError(f"upscaled is {self.upscaled!r}; expected None or "
                                  "{'factor': a number > 0, 'model_version': text, ...}")
        if self.c2pa is not None and not isinstance(self.c2pa, dict):
            raise ProvenanceError(f"c2pa is {self.c2pa!r}; expected None or an object describing the manifest")

    @property
    def composite(self) -> bool:
        """The product photo's own pixels over a generated background."""
        return self.digital_source_type == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA

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

    def xmp(self) -> str:
        """The XMP packet: the IPTC digital source type (the field photo tools and platforms read)."""
        return xmp_packet(self.digital_source_type)

    def png_info(self) -> PngImagePlugin.PngInfo:
        info = PngImagePlugin.PngInfo()
        info.add_itxt(XMP_KEY, self.xmp())
        info.add_itxt(PNG_KEY, self.to_json())
        info.add_text("AI-Generated", "true" if self.ai_generated else "false")
        info.add_text("DigitalSourceType", self.digital_source_type)
        return info


def xmp_packet(digital_source_type: str) -> str:
    """A minimal XMP packet (x:xmpmeta) stating the IPTC digital source type."""
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
            f' <rdf:RDF xmlns:rdf="{RDF_NS}">\n'
            f'  <rdf:Description rdf:about="" xmlns:Iptc4xmpExt="{IPTC_EXT_NS}">\n'
            f'   <Iptc4xmpExt:DigitalSourceType>{_xml_text(digital_source_type)}</Iptc4xmpExt:DigitalSourceType>\n'
            '  </rdf:Description>\n'
            ' </rdf:RDF>\n'
            '</x:xmpmeta>\n'
            '<?xpacket end="w"?>')


def png_bytes(image: np.ndarray | Image.Image, record: Provenance) -> bytes:
    return image_bytes(image, record, "PNG")


def image_bytes(image: np.ndarray | Image.Image, record: Provenance, format: str = "PNG", **save_options) -> bytes:
    """The image as PNG (XMP, the JSON record and text chunks), JPEG or WebP (XMP only: the JSON record is
    served beside them), the digital source type in the file either way."""
    kind = XMP_FORMATS.get(format.upper())
    if kind is None:
        raise ProvenanceError(f"format is {format!r}; expected PNG, JPEG or WEBP (formats that carry XMP here)")
    buffer = io.BytesIO()
    picture = _as_pil(image)
    if kind == "PNG":
        picture.save(buffer, format="PNG", pnginfo=record.png_info(), **save_options)
    else:  # Pillow writes `xmp=` into JPEG (APP1) and WebP (XMP chunk) since 11.0
        picture = picture.convert("RGB") if kind == "JPEG" and picture.mode not in ("RGB", "L") else picture
        picture.save(buffer, format=kind, xmp=record.xmp().encode(), **save_options)
    return buffer.getvalue()


def save_png(image: np.ndarray | Image.Image, path: str | Path, record: Provenance) -> None:
    Path(path).write_bytes(png_bytes(image, record))


def read_provenance(source: str | Path | bytes) -> Provenance | None:
    """The record in a PNG (a path or its bytes); None if the PNG carries none."""
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
        text = image.text.get(PNG_KEY) if hasattr(image, "text") else None
    return None if text is None else Provenance.from_dict(json.loads(text))


def read_digital_source_type(source: str | Path | bytes) -> str | None:
    """The IPTC digital source type in an image's XMP (PNG, JPEG or WebP; a path or the bytes); None if the
    file has no XMP or its XMP does not state one."""
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
        packet = image.info.get("xmp")
    if not packet:
        return None
    return digital_source_type_in_xmp(packet)


def digital_source_type_in_xmp(packet: str | bytes) -> str | None:
    """Iptc4xmpExt:DigitalSourceType from an XMP packet: an element, or an attribute of rdf:Description."""
    text = packet.decode("utf-8", "replace") if isinstance(packet, bytes) else packet
    if "<!DOCTYPE" in text or "<!ENTITY" in text:  # XMP has no DTD; refuse entity tricks before parsing
        raise ProvenanceError("the XMP packet declares a DTD or entities, which XMP never does")
    start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
    body = text[start:end + len("</x:xmpmeta>")] if start >= 0 and end > start else text
    try:
        root = ElementTree.fromstring(body.strip().strip("\x00"))
    except ElementTree.ParseError as exc:
        raise ProvenanceError(f"the XMP packet is not well-formed XML ({exc})") from None
    name = f"{{{IPTC_EXT_NS}}}DigitalSourceType"
    for element in root.iter():
        if element.tag == name and (element.text or "").strip():
            return element.text.strip()
        if name in element.attrib:
            return element.attrib[name].strip()
    return None


def generator_version(generator) -> str:
    """A short hash of what decides the generator's images: settings, configs and weights."""
    digest = hashlib.sha256(json.dumps(asdict(generator.settings), sort_keys=True).encode())
    for model in (generator.unet, generator.movq):
        digest.update(json.dumps(dict(model.config), sort_keys=True, default=str).encode())
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).numpy().tobytes())
    bank = getattr(generator, "condition_bank", None)  # a scene generator's bank picks what it paints
    if bank is not None:
        digest.update(np.asarray(bank, dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def _xml_text(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _as_pil(image: np.ndarray | Image.Image) -> Image.Image:
    return image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
