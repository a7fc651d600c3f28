"""Provenance: a record in PNG text chunks, XMP and JSON that survives save and load."""
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from PIL import PngImagePlugin

from imagegen.provenance import (COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, PNG_KEY, TRAINED_ALGORITHMIC_MEDIA,
                                 Provenance, ProvenanceError, digital_source_type_in_xmp, generator_version,
                                 image_bytes, png_bytes, read_digital_source_type, read_provenance, save_png)
from imagegen_helpers import tiny_generator
from variant_helpers import provenance_record as record


def test_provenance_survives_a_png_save_and_load(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    path = tmp_path / "variant.png"
    save_png(image, path, record())
    assert read_provenance(path) == record(created_at=read_provenance(path).created_at)
    assert read_provenance(path).to_dict() == json.loads(json.dumps(record().to_dict())) | {
        "created_at": read_provenance(path).created_at}
    with Image.open(path) as loaded:
        assert np.array_equal(np.asarray(loaded), image)  # PNG is lossless
        assert loaded.text["AI-Generated"] == "true"
        assert "trainedAlgorithmicMedia" in loaded.text["DigitalSourceType"]


def test_provenance_reads_from_bytes_and_is_none_for_a_plain_png(tmp_path):
    data = png_bytes(Image.new("RGB", (4, 4)), record(seed=None, segment="all"))
    assert read_provenance(data).seed is None and read_provenance(data).segment == "all"
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    assert read_provenance(tmp_path / "plain.png") is None


def test_a_malformed_record_is_refused_with_what_is_wrong():
    values = record().to_dict()
    with pytest.raises(ProvenanceError, match="schema"):
        Provenance.from_dict(values | {"schema": "other/9"})
    with pytest.raises(ProvenanceError, match="seed"):
        Provenance.from_dict({k: v for k, v in values.items() if k != "seed"})


def test_generator_version_follows_the_weights():
    first, same = tiny_generator(), tiny_generator()
    assert generator_version(first) == generator_version(same)
    with torch.no_grad():
        next(same.unet.parameters()).add_(1e-3)
    assert generator_version(first) != generator_version(same)


def test_a_composite_states_its_digital_source_type_in_the_png_xmp():
    image = np.random.default_rng(1).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    composite = record(edit="background")
    data = png_bytes(image, composite)
    assert composite.digital_source_type == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert composite.digital_source_type.endswith("/digitalsourcetype/compositeWithTrainedAlgorithmicMedia")
    assert composite.label == "AI-generated background" and composite.composite
    assert b"iTXtXML:com.adobe.xmp" in data  # XMP as the spec puts it in a PNG: an iTXt chunk with this keyword
    with Image.open(io.BytesIO(data)) as loaded:
        packet = loaded.info["xmp"]
        assert np.array_equal(np.asarray(loaded), image)
        assert loaded.text["DigitalSourceType"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert b"<x:xmpmeta" in packet and b"Iptc4xmpExt:DigitalSourceType" in packet
    assert read_digital_source_type(data) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert read_provenance(data) == composite and read_provenance(data).to_dict()["label"] == "AI-generated background"


def test_the_digital_source_type_follows_the_kind_of_edit():
    assert record().digital_source_type == TRAINED_ALGORITHMIC_MEDIA and record().label == "AI-generated image"
    assert record(edit="composite").digital_source_type == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    enlarged = record(edit="upscaled", ai_generated=False, upscaled={"factor": 4, "model_version": "m1", "steps": []})
    assert enlarged.digital_source_type.endswith("/algorithmicallyEnhanced") and enlarged.label == "Photo enlarged"
    explicit = record(edit="upscaled", digital_source_type=TRAINED_ALGORITHMIC_MEDIA, label="")  # as given, kept
    assert (explicit.digital_source_type, explicit.label) == (TRAINED_ALGORITHMIC_MEDIA, "")
    assert read_digital_source_type(png_bytes(Image.new("RGB", (4, 4)), record())) == TRAINED_ALGORITHMIC_MEDIA
    with pytest.raises(ProvenanceError, match="edit is 'collage'"):
        record(edit="collage")
    with pytest.raises(ProvenanceError, match="IPTC"):
        record(digital_source_type="made up")


@pytest.mark.parametrize("format", ["JPEG", "WEBP"])
def test_jpeg_and_webp_carry_the_same_xmp(format):
    data = image_bytes(Image.new("RGB", (8, 8), (200, 30, 30)), record(edit="background"), format)
    with Image.open(io.BytesIO(data)) as loaded:
        assert loaded.format == format
    assert read_digital_source_type(data) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    with pytest.raises(ProvenanceError, match="GIF"):
        image_bytes(Image.new("RGB", (8, 8)), record(), "GIF")


def test_a_file_without_xmp_has_no_digital_source_type(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.jpg")
    assert read_digital_source_type(tmp_path / "plain.png") is None
    assert read_digital_source_type((tmp_path / "plain.jpg").read_bytes()) is None


def test_xmp_is_read_as_an_element_or_an_attribute_and_entities_are_refused():
    attribute = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                 '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
                 f'Iptc4xmpExt:DigitalSourceType="{TRAINED_ALGORITHMIC_MEDIA}"/></rdf:RDF></x:xmpmeta>')
    assert digital_source_type_in_xmp(attribute) == TRAINED_ALGORITHMIC_MEDIA
    assert digital_source_type_in_xmp(attribute.replace("DigitalSourceType", "Other")) is None
    with pytest.raises(ProvenanceError, match="entities"):
        digital_source_type_in_xmp('<!DOCTYPE x [<!ENTITY a "b">]><x:xmpmeta xmlns:x="adobe:ns:meta/"/>')
    with pytest.raises(ProvenanceError, match="well-formed"):
        digital_source_type_in_xmp("<x:xmpmeta")


OLD_RECORD = {  # as variants written before composites stored it (no label, upscaled or c2pa)
    "ai_generated": True, "generator_version": "g123", "encoder_version": "space@abc", "seed": 7,
    "source_product_hash": "f" * 64, "segment": "3", "parameters": {"strength": 0.5}, "product_id": 15970,
    "edit": "personalized", "created_at": "2025-01-02T03:04:05+00:00",
    "digital_source_type": TRAINED_ALGORITHMIC_MEDIA, "schema": "tailorcard.provenance/1"}


def test_a_record_written_before_composites_still_loads():
    loaded = Provenance.from_dict(json.loads(json.dumps(OLD_RECORD)))
    assert loaded.digital_source_type == TRAINED_ALGORITHMIC_MEDIA and loaded.created_at == OLD_RECORD["created_at"]
    assert loaded.label == "AI-generated image" and loaded.upscaled is None and loaded.c2pa is None
    assert loaded.to_dict() == OLD_RECORD | {"label": "AI-generated image", "upscaled": None, "c2pa": None}
    info = PngImagePlugin.PngInfo()  # an old PNG: the JSON and the two text chunks, no XMP
    info.add_itxt(PNG_KEY, json.dumps(OLD_RECORD, sort_keys=True))
    info.add_text("AI-Generated", "true")
    info.add_text("DigitalSourceType", TRAINED_ALGORITHMIC_MEDIA)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG", pnginfo=info)
    assert read_provenance(buffer.getvalue()) == loaded
    assert read_digital_source_type(buffer.getvalue()) is None


def test_upscaling_and_c2pa_are_recorded_and_checked():
    upscaled = record(edit="background", upscaled={"factor": 4, "model_version": "esrgan@1a2b"}, c2pa=None)
    data = png_bytes(Image.new("RGB", (4, 4)), upscaled)
    assert read_provenance(data).upscaled == {"factor": 4, "model_version": "esrgan@1a2b"}
    assert read_provenance(data).to_dict()["c2pa"] is None
    for bad in ({"factor": 0, "model_version": "x"}, {"factor": 2}, {"factor": True, "model_version": "x"}, 4):
        with pytest.raises(ProvenanceError, match="upscaled"):
            record(upscaled=bad)
    with pytest.raises(ProvenanceError, match="c2pa"):
        record(c2pa="signed")
