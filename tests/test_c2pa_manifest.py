"""C2PA: a manifest signed into a variant where the instance has a key (a throwaway CA and signer made here,
offline), nothing where it has none, and a clear error for a bad configuration."""
import datetime
import io

import numpy as np
import pytest
from PIL import Image

from imagegen.c2pa_manifest import (C2paSigningError, read_manifest, settings_from_config, sign_if_configured,
                                    signer_from_config)
from imagegen.provenance import (COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, image_bytes, png_bytes,
                                 read_digital_source_type, read_provenance)
from variant_helpers import provenance_record as record

pytest.importorskip("c2pa")  # the optional extra tailorcard[c2pa] (in dev too)
x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402 (after the skip)
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402


def _name(common_name: str):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Throwaway Test CA")])


def _certificate(subject: str, key, issuer: str, issuer_key, ca: bool):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                        critical=True)
    else:  # C2PA's signer profile: digital signature, an EKU such as email protection
        builder = (builder.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                                         critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                  critical=False))
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def signing_files(tmp_path_factory):
    """A throwaway ES256 CA and a signer it issued: key.pem, chain.pem (signer, then CA), selfsigned.pem."""
    folder = tmp_path_factory.mktemp("c2pa")
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("tailorcard test CA", ca_key, "tailorcard test CA", ca_key, ca=True)
    signer = _certificate("tailorcard test signer", key, "tailorcard test CA", ca_key, ca=False)
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (folder / "chain.pem").write_bytes(_pem(signer) + _pem(ca))
    (folder / "selfsigned.pem").write_bytes(_pem(_certificate("self", key, "self", key, ca=False)))
    return folder


def config(key="key.pem", chain="chain.pem", **more) -> dict:
    return {"C2PA_SIGNING_KEY": key, "C2PA_CERTIFICATE_CHAIN": chain, **more}


def test_no_key_configured_means_no_signer_and_unchanged_bytes():
    assert signer_from_config({}) is None and signer_from_config({"C2PA_SIGNING_KEY": ""}) is None
    data = png_bytes(Image.new("RGB", (4, 4)), record(edit="background"))
    assert sign_if_configured(data, record(edit="background"), None) == data
    assert read_manifest(data) is None


def test_a_signed_png_carries_a_valid_manifest_with_the_digital_source_type(signing_files):
    signer = signer_from_config(config(), base=signing_files)  # relative paths: from the instance folder
    composite = record(edit="background", c2pa=signer.describe())
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    data = png_bytes(image, composite)
    signed = sign_if_configured(data, composite, signer)
    manifest = read_manifest(signed)
    assert manifest["validation_state"] == "Valid"
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert manifest["signature_info"]["common_name"] == "tailorcard test signer"
    ours = next(a for a in manifest["assertions"] if a["label"] == "com.tailorcard.provenance")["data"]
    assert ours["label"] == "AI-generated background" and ours["generator_version"] == composite.generator_version
    # the pixels, the XMP and the provenance record are still there
    with Image.open(io.BytesIO(signed)) as loaded:
        assert np.array_equal(np.asarray(loaded), image)
    assert read_digital_source_type(signed) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert read_provenance(signed).c2pa == {"alg": "ES256", "issuer": "Throwaway Test CA",
                                            "common_name": "tailorcard test signer",
                                            "claim_generator": composite.c2pa["claim_generator"], "timestamped": False}


def test_jpeg_is_signed_too(signing_files):
    signer = signer_from_config(config(signing_files / "key.pem", signing_files / "chain.pem"))
    data = image_bytes(Image.new("RGB", (8, 8), (0, 90, 200)), record(edit="composite"), "JPEG")
    assert read_manifest(signer.sign(data, record(edit="composite"), "JPEG"), "JPEG")["validation_state"] == "Valid"


def test_a_bad_configuration_is_refused_naming_what_is_wrong(signing_files, tmp_path):
    missing = tmp_path / "nowhere" / "key.pem"
    with pytest.raises(C2paSigningError, match=f"C2PA_SIGNING_KEY: cannot read {missing}"):
        signer_from_config(config(missing, signing_files / "chain.pem"))
    with pytest.raises(C2paSigningError, match="C2PA_CERTIFICATE_CHAIN is not set"):
        settings_from_config({"C2PA_SIGNING_KEY": "key.pem"})
    with pytest.raises(C2paSigningError, match="C2PA_SIGNING_ALG"):
        settings_from_config(config(C2PA_SIGNING_ALG="MD5"))
    (tmp_path / "notes.txt").write_text("not a key")
    with pytest.raises(C2paSigningError, match="notes.txt is not a PEM file holding a private key"):
        signer_from_config(config(tmp_path / "notes.txt", signing_files / "chain.pem"))


def test_a_self_signed_signer_works_offline_but_one_off_the_c2pa_profile_is_refused(signing_files, tmp_path):
    """Offline, with no trust list configured, c2pa signs with a self-signed certificate of the C2PA profile
    (it is valid, though no verifier trusts it); a certificate without an authority key id is refused."""
    data = png_bytes(Image.new("RGB", (4, 4)), record())
    self_signed = signer_from_config(config(chain="selfsigned.pem"), base=signing_files)
    assert read_manifest(self_signed.sign(data, record()))["validation_state"] == "Valid"
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    bare = (x509.CertificateBuilder().subject_name(_name("bare")).issuer_name(_name("bare"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
            .sign(key, hashes.SHA256()))
    (tmp_path / "bare.pem").write_bytes(_pem(bare))
    (tmp_path / "bare-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    signer = signer_from_config(config("bare-key.pem", "bare.pem"), base=tmp_path)
    with pytest.raises(C2paSigningError, match="bare.pem.*certificate is invalid"):
        signer.sign(data, record())
