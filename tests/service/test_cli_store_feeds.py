"""The commands that feed a running store (`events import`, `catalogue sync`): they refuse a folder with no store,
create nothing on a dry run, and keep aside each line they cannot use as the file had it."""
import csv

import pandas as pd
import pytest
from click.testing import CliRunner

from features.catalogue import load_catalogue
from service.cli import main
from service.cli_service import sync_database
from service.db import create_or_upgrade, make_engine


@pytest.fixture
def store(tmp_path, sample_catalogue_dir, tiny_encoder):
    """An instance folder whose database holds the sample catalogue's products, and the catalogue."""
    instance = tmp_path / "shop"
    instance.mkdir()
    engine = make_engine(f"sqlite:///{instance / 'tailorcard.sqlite'}")
    create_or_upgrade(engine)
    sync_database(engine, load_catalogue(sample_catalogue_dir), tiny_encoder)
    engine.dispose()
    return instance, sample_catalogue_dir


def _history(tmp_path, known: str):
    path = tmp_path / "history.csv"
    path.write_text("event_id,user_id,item_id,type,timestamp\n"
                    f"e1,u1,{known},click,2026-11-01T10:00:00Z\n"
                    "e2,u1,NOPE-9,click,2026-11-01T10:05:00Z\n")
    return path


def _import(*args):
    return CliRunner().invoke(main, ["events", "import", *map(str, args)])


@pytest.mark.parametrize("command", [["events", "import", "HISTORY"], ["catalogue", "sync", "CATALOGUE", "--dry-run"]])
def test_a_folder_without_a_store_is_refused_in_one_line_and_left_empty(tmp_path, sample_catalogue_dir, command,
                                                                        monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    paths = {"HISTORY": _history(tmp_path, "1163"), "CATALOGUE": sample_catalogue_dir}
    result = CliRunner().invoke(main, [*(str(paths.get(word, word)) for word in command), "--instance", str(empty)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"error: no store at {empty}" in result.output and "tailorcard serve --instance" in result.output
    assert list(empty.iterdir()) == []


def test_lines_naming_an_unknown_product_are_kept_aside_as_the_file_had_them(tmp_path, store, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    instance, catalogue = store
    known = str(pd.read_csv(catalogue / "catalogue.csv", dtype=str)["product_id"].iloc[0])
    history = _history(tmp_path, known)
    database = instance / "tailorcard.sqlite"
    before = database.read_bytes()
    dry = _import(history, "--instance", instance, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "1 events (would be imported), 1 kept aside" in dry.output and database.read_bytes() == before
    with open(history.with_name("history.csv.rejects.csv")) as file:
        rejects = list(csv.DictReader(file))
    assert [(r["row"], r["event_id"], r["item_id"], r["timestamp"]) for r in rejects] == [
        ("2", "e2", "NOPE-9", "2026-11-01T10:05:00Z")]  # its row and its own text, to fix and import again
    assert "item_id: unknown item (not in the catalogue)" in rejects[0]["problems"]
    done = _import(history, "--instance", instance)
    assert done.exit_code == 0 and "1 new, 0 already there" in done.output


def test_a_start_with_no_sync_keeps_what_the_api_added(tmp_path, sample_catalogue_dir, tiny_encoder, monkeypatch):
    """Another machine's `serve` synced the database to its catalogue file and deleted a product the API had added
    (a multi-machine walk-through): --no-sync serves the database as it is."""
    import features.encoder
    from service import cli_service
    from service_helpers import auth, make_app
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(features.encoder, "load_encoder", lambda spec: tiny_encoder)
    instance = tmp_path / "shop"
    instance.mkdir()
    cli_service.prepare(instance, str(sample_catalogue_dir), "embedded", 0, 2)
    client = make_app(f"sqlite:///{instance / 'tailorcard.sqlite'}", tiny_encoder).test_client()
    admin = auth("admin")
    assert client.put("/v1/items/NEW-1", json={"title": "A new product"}, headers=admin).status_code == 200
    cli_service.prepare(instance, str(sample_catalogue_dir), "embedded", 0, 2, sync=False)
    assert client.get("/v1/items/NEW-1", headers=admin).status_code == 200
    cli_service.prepare(instance, str(sample_catalogue_dir), "embedded", 0, 2)  # the file is the truth
    assert client.get("/v1/items/NEW-1", headers=admin).status_code == 404
