"""Provenance: a record in PNG text chunks and JSON that survives save and load."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from imagegen.provenance import (Provenance, ProvenanceError, generator_version, png_bytes, read_provenance,
                                 save_png)
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
