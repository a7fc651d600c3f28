"""The results page in real headless Chromium: arms, lifts, SRM status and the cumulative-lift plot."""
import shutil
import threading

import numpy as np
import pytest
from werkzeug.serving import make_server

from service.ab_simulation import ApiClient, StudyConfig, run_experiment, seed_products
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
    run_experiment(api, "page-check", 0.5, StudyConfig(users=400, cards=4, items=10), seed_products(app, 10),
                   np.random.default_rng(0))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_results_page_shows_arms_lifts_srm_and_the_cumulative_plot(served):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{served}/experiments/page-check#key=analyst-key")
        page.wait_for_selector("#arms tbody tr")
        arms = page.locator("#arms tbody tr").all_inner_texts()
        lifts = page.locator("#lifts tbody tr").all_inner_texts()
        srm = page.inner_text("#srm")
        curve = page.locator("#cumulative polyline.lift").count()
        band = page.locator("#cumulative polygon.interval").count()
        page.goto(f"{served}/experiments/page-check#key=wrong-key")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('error')")
        refused = page.inner_text("#status")
        browser.close()
    assert [row.split("\t")[0] for row in arms] == ["control", "treatment"]
    assert sum(int(row.split("\t")[1]) for row in arms) == 400
    assert {row.split("\t")[1] for row in lifts} == {"ctr", "add_to_cart_rate", "conversion_rate"}
    assert srm.startswith("Sample ratio OK")
    assert curve == 1 and band == 1
    assert "unknown API key" in refused
