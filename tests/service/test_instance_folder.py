"""The instance folder (config.json, api_keys.json, the SQLite file, the variants) can be chosen per app, so a
simulation or a bench keeps its files apart from the server's."""
import json

from service.app import create_app


def test_an_app_reads_and_writes_the_instance_folder_it_was_given(tmp_path, monkeypatch):
    monkeypatch.setenv("TAILORCARD_INSTANCE", str(tmp_path / "from-environment"))
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    (chosen / "config.json").write_text(json.dumps({"RANKING_CACHE_SIZE": 7}))
    app = create_app({"JOB_QUEUE": "none", "VARIANTS": None}, instance_path=chosen)
    assert app.instance_path == str(chosen)
    assert app.config["RANKING_CACHE_SIZE"] == 7  # its config.json was read
    assert app.config["DATABASE_URL"] == f"sqlite:///{chosen / 'tailorcard.sqlite'}"
    assert not (tmp_path / "from-environment").exists()


def test_without_one_the_environment_still_moves_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TAILORCARD_INSTANCE", str(tmp_path / "from-environment"))
    app = create_app({"JOB_QUEUE": "none", "VARIANTS": None})
    assert app.instance_path == str(tmp_path / "from-environment")
