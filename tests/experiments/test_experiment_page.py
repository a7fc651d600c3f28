"""The results page in real headless Chromium: status, arms, lifts, SRM status, the cumulative-lift plot, and per
segment each arm's image, share, CTR and bandit probability, and a button that fits the segment's next round."""
import contextlib
import shutil
import threading

import numpy as np
import pytest
from werkzeug.serving import make_server

from lab.ab_simulation import ApiClient, StudyConfig, run_experiment, seed_products
from service.app import create_app
from service.experiments_store import DatabaseExperiments

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make dev)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make browser)")
KEYS = [{"name": "analyst", "key": "analyst-key", "scopes": ["experiments"]},
        {"name": "shop", "key": "shop-key", "scopes": ["cards", "events"]}]


@pytest.fixture
def served(tmp_path):
    """The app on a loopback port, with one finished SIMULATED experiment (+50% CTR planted)."""
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'page.sqlite'}", "JOB_QUEUE": "none", "API_KEYS": KEYS,
                      "EXPERIMENTS": DatabaseExperiments()})
    api = ApiClient(app.test_client(), "analyst-key", "shop-key", events_per_request=500)
    items = seed_products(app, 10)
    run_experiment(api, "page-check", 0.5, StudyConfig(users=400, cards=4, items=10), items,
                   np.random.default_rng(0))
    bandit_experiment(app, items)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def bandit_experiment(app, items):
    """A running bandit ("bandit-page") with decisions logged through the cards hooks, in segments 0 and 1."""
    client = app.test_client()
    arms = [{"name": "photo", "weight": 1, "presentation": {"kind": "upscaled"}},
            {"name": "bold", "weight": 1, "presentation": {"kind": "scene", "guidance_scale": 9.0}}]
    headers = {"Authorization": "Bearer analyst-key"}
    assert client.post("/v1/experiments", json={"name": "bandit-page", "arms": arms, "allocation": "bandit"},
                       headers=headers).status_code == 201
    assert client.post("/v1/experiments/bandit-page/start", headers=headers).status_code == 200
    experiments = app.extensions["tailorcard"].experiments
    with app.test_request_context():
        for i in range(40):
            assigned = experiments.assign(f"b{i}", i % 2)
            cards = [{"rank": 1, "product": {"id": str(items[0])}, "variant": None,
                      "image_url": f"/v1/items/{items[0]}/image"}]
            experiments.log_exposures(f"b{i}", assigned, cards)


@contextlib.contextmanager
def results_page(served: str, name: str, ready: str):
    """Chromium on an experiment's results page (the analyst's key), once `ready` shows."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{served}/experiments/{name}#key=analyst-key")
        page.wait_for_selector(ready)
        yield page
        browser.close()


def test_results_page_shows_status_and_a_table_per_segment(served):
    with results_page(served, "bandit-page", "#segments section.segment") as page:
        status, allocation = page.inner_text("#experiment-status"), page.inner_text("#allocation")
        segments = page.locator("#segments section.segment")
        keys = [segments.nth(i).get_attribute("data-segment") for i in range(segments.count())]
        rows = page.locator("#segments section[data-segment='0'] tbody tr").all_inner_texts()
        images = page.locator("#segments img").count()
        off_policy = page.locator("#off-policy tbody tr").all_inner_texts()
        buttons = page.locator("#segments button.fit-round").count()
        page.click("#segments section[data-segment='0'] button.fit-round")  # this bandit painted no scene
        page.wait_for_function("document.querySelector(\"section[data-segment='0'] .fit-answer\").textContent"
                               ".startsWith('error')")
        fit_answer = page.inner_text("#segments section[data-segment='0'] .fit-answer")
        page.goto(f"{served}/experiments/page-check#key=analyst-key")
        page.wait_for_selector("#segments section.segment")
        stopped = page.inner_text("#experiment-status")
    assert status == "running" and allocation == "bandit" and stopped == "stopped"
    assert keys == ["0", "1"]
    assert [row.split("\t")[0] for row in rows] == ["photo", "bold"]
    probabilities = [float(row.split("\t")[-1].rstrip("%")) for row in rows]
    assert sum(probabilities) == pytest.approx(100, abs=0.02) and probabilities[0] >= 20  # the control's share
    assert images >= 2  # an example image per arm shown in a segment
    assert [row.split("\t")[0] for row in off_policy] == ["photo", "bold"]
    assert buttons == 2  # one per segment: fit its next round to these results
    assert "has shown no scene arm's images in segment 0" in fit_answer  # the service's reason, through the API


def test_results_page_shows_arms_lifts_srm_and_the_cumulative_plot(served):
    with results_page(served, "page-check", "#arms tbody tr") as page:
        arms = page.locator("#arms tbody tr").all_inner_texts()
        lifts = page.locator("#lifts tbody tr").all_inner_texts()
        srm = page.inner_text("#srm")
        curve = page.locator("#cumulative polyline.lift").count()
        band = page.locator("#cumulative polygon.interval").count()
        page.goto(f"{served}/experiments/page-check#key=wrong-key")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('error')")
        refused = page.inner_text("#status")
    assert [row.split("\t")[0] for row in arms] == ["control", "treatment"]
    assert sum(int(row.split("\t")[1]) for row in arms) == 400
    assert {row.split("\t")[1] for row in lifts} == {"ctr", "add_to_cart_rate", "conversion_rate"}
    assert srm.startswith("Fixed split: sample ratio OK")
    assert curve == 1 and band == 1
    assert "unknown API key" in refused
