"""Service fixtures, as in the Flask tutorial: `app`, `client`, `runner`.

The database is seeded once per session (40 products, tiny encoder, 24 simulated shoppers,
2 segments) and copied for each test, so every test starts from the same state, fast.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from features.catalogue import load_catalogue
from service.bootstrap import seed
from service.db import make_engine, metadata
from service_helpers import N_PRODUCTS, N_SHOPPERS, SHIPPED_CATALOGUE, make_app


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory, tiny_encoder) -> Path:
    folder = tmp_path_factory.mktemp("seeded")
    catalogue = load_catalogue(SHIPPED_CATALOGUE, check_images=False)
    catalogue = catalogue.subset(catalogue.ids[:N_PRODUCTS])
    engine = make_engine(f"sqlite:///{folder / 'tailorcard.sqlite'}")
    metadata.create_all(engine)
    seed(engine, catalogue, tiny_encoder, simulated_users=N_SHOPPERS, segments=2)
    engine.dispose()
    return folder / "tailorcard.sqlite"


@pytest.fixture
def database_url(seeded_database, tmp_path) -> str:
    copy = tmp_path / "tailorcard.sqlite"
    shutil.copy(seeded_database, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def app(database_url, tiny_encoder):
    return make_app(database_url, tiny_encoder)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
