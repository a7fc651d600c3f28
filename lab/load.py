"""`tailorcard bench service`: gunicorn on loopback under a bounded, fixed-rate load.

Phase 1 warms each shopper's cards (their first request computes and caches the ranking: reported
as the miss latency). Phase 2 sends `n_requests` card requests at a fixed rate (open loop, latency
from each request's scheduled time: lab.paced_client) over keep-alive connections, as a
storefront's backend would; a share of them come from first-time shoppers, whose cards are ranked
then (cache misses, counted in the percentiles and reported apart). The web workers only queue generation
jobs (JOB_QUEUE "none"), and with every card's images in demand at once the warm-up leaves a backlog. Phase 3
starts one low-priority `tailorcard worker` on that backlog and, once it has finished a job, sends the same
paced cards again: cards p99 with generation running beside the web workers. Phase 4 posts `n_events`
SIMULATED-style events in batches of 100 and reports events stored per second.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from lab.paced_client import run_paced

EVENTS_PER_BATCH = 100
BENCH_APP = "lab.load:bench_app"  # the app factory of the bench's web workers and its generation worker
NO_SCENES = "card-size photos only (no scene generator installed)"


def scene_model_installed() -> bool:
    from features.model_spec import embedded_dir
    return (embedded_dir("scene") / "model_index.json").is_file()


def generation_note() -> str:
    return "scenes and card-size photos" if scene_model_installed() else NO_SCENES


def bench_app(test_config: dict | None = None):
    """create_app for the bench: while the scene model is not installed (still training), card images are the
    photos at card size only (the same store as VARIANTS, with no scene generator), so the bench still runs."""
    from service.app import create_app
    from service.variants import build_variant_store
    if scene_model_installed():
        return create_app(test_config)
    app = create_app({**(test_config or {}), "VARIANTS": None})
    app.extensions["tailorcard"].variants = build_variant_store(
        None, app.extensions["tailorcard"].encoder.get(), Path(app.instance_path) / "variants")
    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, key: str, body: bytes | None = None) -> tuple[int, bytes, float]:
    """One request on a fresh connection (set-up and events; timed cards use run_paced): (status, body, s)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Authorization": f"Bearer {key}",
                                                             "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read(), time.perf_counter() - started
    finally:
        connection.close()


def wait_ready(port: int, server: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode} before it was ready")
        try:
            if request(port, "GET", "/readyz", "")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the service was not ready within {timeout:.0f} s")


def card_paths(users: list[str], n_requests: int, new_shopper_share: float) -> tuple[list[str], int]:
    """Known shoppers in turn, and every (1 / share)-th request a first-time shopper; (paths, first visits)."""
    every = round(1 / new_shopper_share) if new_shopper_share > 0 else 0
    paths, first_visits = [], 0
    for position in range(n_requests):
        if every and position % every == every - 1:
            user, first_visits = f"bench-first-visit-{first_visits}", first_visits + 1
        else:
            user = users[position % len(users)]
        paths.append(f"/v1/users/{user}/cards?n=12")
    return paths, first_visits


def percentiles_ms(seconds, *points: int) -> list[float]:
    return [round(float(np.percentile(np.asarray(seconds) * 1000, p)), 2) for p in points]


def post_events(port: int, key: str, users: list[str], item_ids: list[int], n_events: int) -> tuple[float, int]:
    """Events per second stored (as fast as 4 clients can post batches), and the error count."""
    rng = np.random.default_rng(0)
    now = time.time()
    batches = []
    for start in range(0, n_events, EVENTS_PER_BATCH):
        size = min(EVENTS_PER_BATCH, n_events - start)
        batches.append(json.dumps({"events": [
            {"event_id": f"bench-{now}-{start + i}", "user_id": users[rng.integers(len(users))],
             "item_id": int(item_ids[rng.integers(len(item_ids))]), "type": "view", "timestamp": now + i}
            for i in range(size)]}).encode())
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda body: request(port, "POST", "/v1/events", key, body), batches))
    elapsed = time.perf_counter() - started
    stored = sum(json.loads(body)["accepted"] for status, body, _ in results if status == 202)
    return stored / elapsed, sum(status != 202 for status, _, _ in results)


def run_service_bench(command, env: dict, keys: list[dict], rate: float, n_requests: int, n_shoppers: int,
                      n_events: int, new_shopper_share: float = 0.005, log=print) -> dict:
    key = next(k["key"] for k in keys if "cards" in k["scopes"])
    port = free_port()
    server = subprocess.Popen(command(f"127.0.0.1:{port}", 2), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(port, server)
        users = [u["user_id"] for u in json.loads(request(port, "GET", f"/v1/users?limit={n_shoppers}", key)[1])["users"]]
        log(f"gunicorn (2 workers) on 127.0.0.1:{port}; {len(users)} SIMULATED shoppers")
        misses = [request(port, "GET", f"/v1/users/{u}/cards?n=12", key)[2] for u in users]
        for user in users:  # each worker builds its model on its first miss; take that out of the measurement
            request(port, "GET", f"/v1/users/{user}/cards?n=12", key)
        paths, first_visits = card_paths(users, n_requests, new_shopper_share)
        log(f"cards: {n_requests} requests at {rate:g}/s, {first_visits} of them from first-time shoppers")
        paced = run_paced(port, paths, rate, {"Authorization": f"Bearer {key}"})
        generation = cards_with_generation(port, key, paths, rate, env, log)
        item_ids = [c["product"]["id"] for c in json.loads(request(port, "GET", paths[0], key)[1])["cards"]]
        log(f"events: {n_events} in batches of {EVENTS_PER_BATCH}")
        events_per_s, event_errors = post_events(port, key, users, item_ids, n_events)
    finally:
        stop_group(server)
    first_visit_latencies = [s for path, s in zip(paths, paced.latencies_s) if "first-visit" in path]
    p50, p99 = percentiles_ms(paced.latencies_s, 50, 99)
    generation_errors = generation.pop("generation_phase_errors")
    return {"cards_p50_ms": p50, "cards_p99_ms": p99, **generation,
            "p99_ratio_with_generation": round(generation["cards_p99_with_generation_ms"] / p99, 2),
            "errors": int(paced.errors + generation_errors + event_errors),
            "events_per_s": round(events_per_s, 1), "cards_max_ms": round(max(paced.latencies_s) * 1000, 2),
            "cards_miss_p50_ms": percentiles_ms(misses, 50)[0], "cards_first_visits": first_visits,
            "cards_first_visit_p50_ms": percentiles_ms(first_visit_latencies or [0.0], 50)[0],
            "rate_per_s": rate, "requests": n_requests, "connections_opened": paced.connections_opened,
            "shoppers": len(users), "events": n_events,
            "machine": f"{os.cpu_count()} CPU cores, loopback", "behaviour": "simulated"}


def cards_with_generation(port: int, key: str, paths: list[str], rate: float, env: dict, log=print) -> dict:
    """The paced cards again while one low-priority `tailorcard worker` works through the queued jobs."""
    from service.db import make_engine
    from service.gunicorn_config import worker_command
    engine = make_engine(env["TAILORCARD_DATABASE_URL"])
    log_path = Path(env["TAILORCARD_INSTANCE"]) / "bench-worker.log"
    with open(log_path, "wb") as worker_log:
        worker = subprocess.Popen(worker_command() + ["--nice", "10", "--poll", "0.2", "--app", BENCH_APP], env=env,
                                  stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        log(f"generation: a worker (pid {worker.pid}, nice 10) on {job_counts(engine).get('queued', 0)} queued jobs")
        wait_for_a_finished_job(engine, worker, log_path)
        before = job_counts(engine)
        paced = run_paced(port, paths, rate, {"Authorization": f"Bearer {key}"})
        after = job_counts(engine)
    finally:
        stop_group(worker)
        engine.dispose()
    p50, p99 = percentiles_ms(paced.latencies_s, 50, 99)
    return {"cards_p50_with_generation_ms": p50, "cards_p99_with_generation_ms": p99,
            "generation_jobs_done_during": after.get("done", 0) - before.get("done", 0),
            "generation_jobs_failed_during": after.get("failed", 0) - before.get("failed", 0),
            "generation_jobs_queued_after": after.get("queued", 0), "generation_phase_errors": paced.errors}


def job_counts(engine) -> dict[str, int]:
    from service.db import jobs
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)).all())


def wait_for_a_finished_job(engine, worker: subprocess.Popen, log_path: Path, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(job_counts(engine).get(status, 0) for status in ("done", "failed")) == 0:
        if worker.poll() is not None:
            raise RuntimeError(f"the generation worker exited with status {worker.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the generation worker finished no job within {timeout:.0f} s; see {log_path}")
        time.sleep(0.2)


def stop_group(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM to the process's group (it was started in a session of its own), SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
