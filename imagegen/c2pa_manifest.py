"""C2PA manifests (Content Credentials) for generated images, signed where the instance has a signing key.

    signer = signer_from_config(app.config, base=app.instance_path)   # None: no key configured
    record = Provenance(..., c2pa=signer.describe() if signer else None)
    data = png_bytes(image, record)
    data = sign_if_configured(data, record, signer)                     # unchanged bytes when signer is None
    read_manifest(data)                                                 # the active manifest, or None

Configuration (instance `config.json` or `TAILORCARD_<KEY>` environment variables):

- `C2PA_SIGNING_KEY`: path to the PEM private key (PKCS#8), relative paths from the instance folder;
- `C2PA_CERTIFICATE_CHAIN`: path to the PEM certificate chain, the signing certificate first, then its
  issuers. The signing certificate must follow C2PA's profile (digitalSignature key usage, an extended key
  usage such as emailProtection, an authority key identifier) or signing is refused; a self-signed one
  signs, but no verifier trusts it: use one issued by a CA on the C2PA trust list for production;
- `C2PA_SIGNING_ALG` (default "ES256"; ES384, ES512, PS256, PS384, PS512, ED25519 match the key);
- `C2PA_TIMESTAMP_URL` (default none: no RFC 3161 timestamp, so signing needs no network).

Both paths or neither: without them nothing is signed and provenance records say `"c2pa": null`.
Needs the optional extra `pip install tailorcard[c2pa]` (c2pa-python, the CAI's Rust library) only
where a key is configured; this module imports it lazily.

The manifest has one `c2pa.actions` assertion: `c2pa.created` with the record's IPTC digital source
type (`compositeWithTrainedAlgorithmicMedia` for a generated background behind the product's own
pixels, `trainedAlgorithmicMedia` for a fully generated image), and a `com.tailorcard.provenance`
assertion with the record's label, versions and seed. No thumbnail is embedded (it would add ~30 KB to
every variant and repeat the image).
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from features.errors import TailorcardError
from imagegen.provenance import Provenance

ALGORITHMS = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "ED25519")
CLAIM_GENERATOR = "tailorcard"
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
NO_THUMBNAIL = {"builder": {"thumbnail": {"enabled": False}}}


class C2paSigningError(TailorcardError):
    """The C2PA signing configuration is unusable (a missing file, a bad key or certificate, no c2pa-python)."""


@dataclass(frozen=True)
class C2paSettings:
    key_path: Path
    chain_path: Path
    alg: str = "ES256"
    timestamp_url: str | None = None


def settings_from_config(config: Mapping, base: str | Path | None = None) -> C2paSettings | None:
    """The signing settings in an app config; None when no key is configured (then nothing is signed)."""
    key, chain = config.get("C2PA_SIGNING_KEY"), config.get("C2PA_CERTIFICATE_CHAIN")
    if not key and not chain:
        return None
    if not key or not chain:
        missing = "C2PA_SIGNING_KEY" if not key else "C2PA_CERTIFICATE_CHAIN"
        raise C2paSigningError(f"C2PA signing needs both C2PA_SIGNING_KEY and C2PA_CERTIFICATE_CHAIN; {missing} "
                               "is not set (set both to sign variants, or neither to skip C2PA)")
    alg = str(config.get("C2PA_SIGNING_ALG") or "ES256").upper()
    if alg not in ALGORITHMS:
        raise C2paSigningError(f"C2PA_SIGNING_ALG is {alg!r}; expected one of {', '.join(ALGORITHMS)}")
    return C2paSettings(_resolved(key, base), _resolved(chain, base), alg, config.get("C2PA_TIMESTAMP_URL") or None)


def signer_from_config(config: Mapping, base: str | Path | None = None) -> "ManifestSigner | None":
    settings = settings_from_config(config, base)
    return None if settings is None else ManifestSigner(settings)


class ManifestSigner:
    """Signs C2PA manifests into image bytes with one key and certificate chain (read once, checked at once)."""

    def __init__(self, settings: C2paSettings):
        self.settings = settings
        self._key = _read_pem(settings.key_path, "C2PA_SIGNING_KEY", "PRIVATE KEY")
        self._chain = _read_pem(settings.chain_path, "C2PA_CERTIFICATE_CHAIN", "CERTIFICATE")
        self._c2pa = _import_c2pa()
        self._description = _describe_chain(self._chain, settings)
        self._signer()  # a key that does not parse is refused now, not at the first variant

    def describe(self) -> dict:
        """What a provenance record says about the manifest (known before signing): alg, issuer, common name."""
        return dict(self._description)

    def sign(self, data: bytes, record: Provenance, format: str = "PNG") -> bytes:
        """The image bytes with a signed manifest embedded (the pixels and other metadata unchanged)."""
        media_type = MEDIA_TYPES.get(format.upper())
        if media_type is None:
            raise C2paSigningError(f"format is {format!r}; expected one of {sorted(MEDIA_TYPES)}")
        c2pa = self._c2pa
        builder = c2pa.Builder(json.dumps(manifest_definition(record)),
                               context=c2pa.Context.from_dict(NO_THUMBNAIL))
        output = io.BytesIO()
        try:
            builder.sign(self._signer(), media_type, io.BytesIO(data), output)
        except c2pa.C2paError as exc:
            raise C2paSigningError(f"C2PA signing with {self.settings.key_path} and {self.settings.chain_path} "
                                   f"failed: {exc}") from None
        finally:
            builder.close()
        return output.getvalue()

    def _signer(self):
        c2pa = self._c2pa
        try:
            return c2pa.Signer.from_info(c2pa.C2paSignerInfo(
                getattr(c2pa.C2paSigningAlg, self.settings.alg), self._chain, self._key,
                self.settings.timestamp_url))
        except (c2pa.C2paError, ValueError) as exc:
            raise C2paSigningError(f"C2PA signer from {self.settings.key_path} and {self.settings.chain_path} "
                                   f"refused: {exc}") from None


def sign_if_configured(data: bytes, record: Provenance, signer: ManifestSigner | None, format: str = "PNG") -> bytes:
    """Signed bytes where the instance has a signer; else the bytes as they are."""
    return data if signer is None else signer.sign(data, record, format)


def manifest_definition(record: Provenance) -> dict:
    """The manifest: `c2pa.created` with the record's IPTC digital source type, and tailorcard's record."""
    return {
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": _version()}],
        "title": record.label,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created", "digitalSourceType": record.digital_source_type,
                "softwareAgent": {"name": CLAIM_GENERATOR, "version": _version()},
                "description": record.label}]}},
            {"label": "com.tailorcard.provenance", "data": {
                "label": record.label, "edit": record.edit, "generator_version": record.generator_version,
                "encoder_version": record.encoder_version, "seed": record.seed, "segment": record.segment,
                "source_product_hash": record.source_product_hash, "upscaled": record.upscaled}},
        ],
    }


def read_manifest(data: bytes, format: str = "PNG") -> dict | None:
    """The active manifest in image bytes, with its validation state; None if the bytes carry none."""
    c2pa = _import_c2pa()
    try:
        with c2pa.Reader(MEDIA_TYPES[format.upper()], io.BytesIO(data)) as reader:
            manifest = reader.get_active_manifest()
            return None if manifest is None else manifest | {"validation_state": reader.get_validation_state()}
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in str(exc):
            return None
        raise


def _resolved(path, base) -> Path:
    path = Path(str(path)).expanduser()
    return path if path.is_absolute() or base is None else Path(base) / path


def _read_pem(path: Path, setting: str, kind: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise C2paSigningError(f"{setting}: cannot read {path} ({exc.strerror or exc})") from None
    if b"-----BEGIN" not in data or kind.encode() not in data:
        raise C2paSigningError(f"{setting}: {path} is not a PEM file holding a {kind.lower()}")
    return data


def _describe_chain(chain: bytes, settings: C2paSettings) -> dict:
    """alg, issuer (organisation) and common name of the signing certificate (the chain's first)."""
    from cryptography import x509  # a dependency of c2pa-python
    from cryptography.x509.oid import NameOID
    try:
        certificate = x509.load_pem_x509_certificates(chain)[0]
    except ValueError as exc:
        raise C2paSigningError(f"C2PA_CERTIFICATE_CHAIN: {settings.chain_path} does not parse ({exc})") from None

    def name(of, oid):
        values = of.get_attributes_for_oid(oid)
        return values[0].value if values else None

    return {"alg": settings.alg, "issuer": name(certificate.issuer, NameOID.ORGANIZATION_NAME)
            or name(certificate.issuer, NameOID.COMMON_NAME),
            "common_name": name(certificate.subject, NameOID.COMMON_NAME),
            "claim_generator": f"{CLAIM_GENERATOR}/{_version()}", "timestamped": settings.timestamp_url is not None}


def _import_c2pa():
    try:
        import c2pa
    except ImportError:
        raise C2paSigningError("a C2PA signing key is configured but c2pa-python is not installed: "
                               "pip install 'tailorcard[c2pa]'") from None
    return c2pa


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("tailorcard")
    except PackageNotFoundError:
        return "0"
