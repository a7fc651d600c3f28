"""Helpers of the service tests: API keys, a fake variant store, an app on a given database, experiments."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import sqlalchemy as sa
from PIL import ImageOps

from service import experiments_db
from imagegen.presentation import PresentationPolicy
from service.app import create_app
from service.variants import VariantNotFound, VariantRecord

SHIPPED_CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"
N_PRODUCTS, N_SHOPPERS = 40, 24
KEYS = {"storefront": "sk-storefront-test", "admin": "sk-admin-test", "analyst": "sk-analyst-test"}
API_KEYS = [{"name": "storefront", "key": KEYS["storefront"], "scopes": ["cards", "events"]},
            {"name": "admin", "key": KEYS["admin"], "scopes": ["items"]},
            {"name": "analyst", "key": KEYS["analyst"], "scopes": ["experiments"]}]
ORIGINALS_ONLY = [{"name": "plain", "weight": 1, "image_policy": "original"},
                  {"name": "framed", "weight": 1, "image_policy": "original"}]  # no card looks a variant up


def auth(role: str) -> dict:
    return {"Authorization": f"Bearer {KEYS[role]}"}


class FakeVariantStore:
    """A stand-in for imagegen's presentation store: 'makes' a PNG copy of the photo, keyed like the real one
    (product content, segment, policy)."""

    def __init__(self):
        self.records: dict[tuple, VariantRecord] = {}
        self.images: dict[str, bytes] = {}
        self.generated = 0
        self.requests = []  # every GenerationRequest, as asked
        self.centres = None  # scene styles' mean directions (style_centres); None: scenes without styles
        self.embedded: dict[str, object] = {}  # variant id -> [2, d] CLIP rows kept as made (embeddings); none here
        self.reads = 0  # images read back (read_bytes)

    def lookup(self, product_id, content_hash, segment, policy):
        return self.records.get((product_id, content_hash, segment, policy.digest()))

    def generate(self, request):
        self.requests.append(request)
        key = (request.product_id, request.content_hash, request.segment, request.policy.digest())
        variant_id = hashlib.sha256(":".join(map(str, key)).encode()).hexdigest()[:32]
        buffer = io.BytesIO()
        scene = request.policy.kind == "scene"  # a coloured frame stands in for a painted backdrop
        (ImageOps.expand(request.image, border=8, fill=(200, 60, 60)) if scene else request.image).save(buffer, "PNG")
        record = VariantRecord(variant_id, request.product_id, request.segment, "image/png",
                               {"ai_generated": request.policy.kind == "scene", "generator": "fake",
                                "label": "AI-generated background" if request.policy.kind == "scene" else "Photo enlarged",
                                "source_product_hash": request.content_hash, "segment": request.segment,
                                "parameters": {"policy": request.policy.to_dict()}})
        self.records[key] = record
        self.images[variant_id] = buffer.getvalue()
        self.generated += 1
        return record

    def style_centres(self):
        return self.centres

    def invalidate(self, product_id):
        stale = {key: self.records.pop(key) for key in list(self.records) if key[0] == product_id}
        for record in stale.values():
            self.images.pop(record.variant_id, None)
        return sorted({(key[2], PresentationPolicy.from_dict(record.provenance["parameters"]["policy"]))
                       for key, record in stale.items()}, key=lambda pair: (pair[0], pair[1].digest()))

    def get(self, variant_id):
        return self._find(variant_id)

    def read_bytes(self, variant_id):
        self.reads += 1
        return self.images[self._find(variant_id).variant_id]

    def _find(self, variant_id):
        for record in self.records.values():
            if record.variant_id == variant_id:
                return record
        raise VariantNotFound(f"no variant {variant_id!r}")

    def embeddings(self, stored):
        return self.embedded.get(stored.variant_id)


def fake_generator_app(config: dict):
    """`tailorcard worker --app service_helpers:fake_generator_app` (tests/ and tests/service on PYTHONPATH): an
    app on TAILORCARD_DATABASE_URL whose variant store makes (fake) images, as a configured worker's does."""
    import os

    from tiny_models import make_tiny_encoder
    return make_app(os.environ["TAILORCARD_DATABASE_URL"], make_tiny_encoder(), **config)


def make_app(database_url: str, encoder, **overrides):
    config = {"TESTING": True, "DATABASE_URL": database_url, "ENCODER": encoder, "API_KEYS": API_KEYS,
              "JOB_QUEUE": "none", "VARIANT_STORE": FakeVariantStore(), "VARIANT_MIN_DEMAND": 1, **overrides}
    return create_app(config)


def shopper_wanting_variants(app, n: int) -> tuple[str, int]:
    """A seeded shopper with a taste segment (every card of theirs with a photo wants a scene for it, and the
    photo at card size) and how many of their first n cards have a photo."""
    with app.app_context():
        live = app.extensions["tailorcard"].live.get()
        user = sorted(live.recommender.preferences.user_ids)[0]
        assert live.segment_of(user) is not None, "the seeded database has no taste segments; the seeding changed"
        wanting = sum(card["has_photo"] for card in live.rank(user, n)["cards"])
    assert wanting > 0, "no card of the seeded shopper has a photo; the seeded data changed"
    return user, wanting


def start_experiment(client, name: str, arms: list[dict]) -> None:
    experiment = {"name": name, "hypothesis": "variants lift clicks", "primary_metric": "ctr", "arms": arms}
    assert client.post("/v1/experiments", json=experiment, headers=auth("analyst")).status_code == 201
    assert client.post(f"/v1/experiments/{name}/start", headers=auth("analyst")).status_code == 200


def stored_experiment_rows(app, user_id: str) -> tuple[list[str], list[tuple[str, int]]]:
    """The shopper's stored assignments (arms) and exposures (arm, position)."""
    assignments, exposures = experiments_db.assignments, experiments_db.exposures
    with app.extensions["tailorcard"].db.connect() as connection:
        arms = connection.execute(sa.select(assignments.c.arm).where(assignments.c.user_id == user_id)).scalars()
        shown = connection.execute(sa.select(exposures.c.arm, exposures.c.position).where(
            exposures.c.user_id == user_id).order_by(exposures.c.seq))
        return list(arms), [tuple(row) for row in shown]
