"""Generation apart from serving: `tailorcard worker` runs the queued jobs in a process of its own, and
`tailorcard serve`'s web workers only queue them while gunicorn's master keeps one local worker beside them."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import sqlalchemy as sa
from click.testing import CliRunner
from service_helpers import FakeVariantStore, auth, make_app, shopper_wanting_variants
from test_service_serve import wait_until_ready
from tiny_models import copy_catalogue

from lab.load import free_port
from service import cli_service, gunicorn_config
from service.cli import main
from service.db import jobs
from service.jobs import run_worker

STOREFRONT = auth("storefront")


def queue_jobs(app, n_cards: int = 2) -> int:
    """A shopper's cards queue their images (the web workers' part); how many jobs that made."""
    user, wanting = shopper_wanting_variants(app, n_cards)
    app.test_client().get(f"/v1/users/{user}/cards?n={n_cards}", headers=STOREFRONT)
    assert app.extensions["tailorcard"].jobs.depth() == 2 * wanting  # per card: its scene, its photo at card size
    return 2 * wanting


def statuses(database_url: str) -> list[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.select(jobs.c.status).order_by(jobs.c.id)).scalars().all()
    finally:
        engine.dispose()


def test_the_worker_loop_runs_the_queued_jobs_until_sigterm(database_url, tiny_encoder):
    store = FakeVariantStore()
    app = make_app(database_url, tiny_encoder, VARIANT_STORE=store)  # JOB_QUEUE none: the web workers' config
    queued = queue_jobs(app)
    assert store.generated == 0  # the web side only queues

    def terminate_when_done():
        deadline = time.monotonic() + 20
        while store.generated < queued and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=terminate_when_done, daemon=True).start()
    assert run_worker(app.extensions["tailorcard"].jobs, poll_seconds=0.05) == queued
    assert store.generated == queued and statuses(database_url) == ["done"] * queued
    assert signal.getsignal(signal.SIGTERM) is before  # the process's own handler is back


def test_an_orphaned_worker_stops_before_taking_a_job(database_url, tiny_encoder):
    store = FakeVariantStore()
    app = make_app(database_url, tiny_encoder, VARIANT_STORE=store)
    queued = queue_jobs(app)
    # the parent it was started by is not its parent any more (it died): the worker stops at once
    assert run_worker(app.extensions["tailorcard"].jobs, poll_seconds=0.05, parent_pid=os.getppid() + 1) == 0
    assert store.generated == 0 and statuses(database_url) == ["queued"] * queued


def photo_jobs_only(app) -> int:
    """Drop the queued scene jobs: they need the shoppers' model, built with the tests' tiny encoder, which a
    subprocess cannot load (the photo at card size needs no model). How many jobs are left."""
    with app.extensions["tailorcard"].db.begin() as connection:
        rows = connection.execute(sa.select(jobs.c.id, jobs.c.payload)).all()
        scenes = [job_id for job_id, payload in rows if payload["policy"]["kind"] == "scene"]
        connection.execute(jobs.delete().where(jobs.c.id.in_(scenes)))
    assert 0 < len(scenes) < len(rows)
    return len(rows) - len(scenes)


def _worker(database_url, tmp_path, *options):
    env = {key: value for key, value in os.environ.items() if not key.startswith("TAILORCARD_")}
    tests = Path(__file__).parent
    env.update(TAILORCARD_DATABASE_URL=database_url, TAILORCARD_INSTANCE=str(tmp_path / "instance"),
               PYTHONPATH=os.pathsep.join([str(tests.parent), str(tests), env.get("PYTHONPATH", "")]))
    return subprocess.Popen([str(Path(sys.executable).with_name("tailorcard")), "worker", "--poll", "0.1", *options],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _stopped(worker) -> str:
    worker.send_signal(signal.SIGTERM)
    output = worker.communicate(timeout=20)[0].decode()
    assert worker.returncode == 0 and "Traceback" not in output, output
    return output


def test_the_worker_command_runs_queued_jobs_and_exits_cleanly_on_sigterm(database_url, tiny_encoder, tmp_path):
    app = make_app(database_url, tiny_encoder)
    queue_jobs(app)
    queued = photo_jobs_only(app)
    # no generator configured (no TAILORCARD_VARIANTS): it takes no job, where it once settled them with nothing made
    idle = _worker(database_url, tmp_path)
    try:
        started = idle.stdout.readline().decode()  # its first line: running, its signal handlers set
        assert "takes none: this worker has no image generator" in started, started
        time.sleep(1)  # ten polls
        assert statuses(database_url) == ["queued"] * queued
        assert "stopped after 0 jobs" in _stopped(idle)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(idle.pid, signal.SIGKILL)
        idle.wait()
    worker = _worker(database_url, tmp_path, "--app", "service_helpers:fake_generator_app")
    try:
        deadline = time.monotonic() + 60
        while statuses(database_url) != ["done"] * queued:
            assert worker.poll() is None, worker.communicate()[0].decode()
            assert time.monotonic() < deadline, f"jobs {statuses(database_url)} after 60 s"
            time.sleep(0.1)
        assert psutil.Process(worker.pid).nice() >= 10  # below the web workers
        assert f"stopped after {queued} jobs" in _stopped(worker)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def test_gunicorn_starts_the_local_worker_when_ready_and_stops_it_on_exit(monkeypatch):
    monkeypatch.setattr(gunicorn_config, "worker_command", lambda: [sys.executable, "-c", "import time; time.sleep(60)"])
    server = type("Server", (), {"log": logging.getLogger("gunicorn-test")})()
    monkeypatch.delenv(gunicorn_config.LOCAL_WORKER, raising=False)
    gunicorn_config.when_ready(server)
    assert gunicorn_config._local_worker is None  # not asked for (rq workers, or the bench's own)
    monkeypatch.setenv(gunicorn_config.LOCAL_WORKER, "1")
    gunicorn_config.when_ready(server)
    process = gunicorn_config._local_worker
    try:
        assert process is not None and process.poll() is None
        gunicorn_config.on_exit(server)
        assert process.wait(5) == -signal.SIGTERM and gunicorn_config._local_worker is None
    finally:
        if process.poll() is None:
            process.kill()
        gunicorn_config._local_worker = None


def test_serve_gives_the_web_workers_no_jobs_and_asks_for_a_local_worker(tmp_path, monkeypatch):
    config = {"DATABASE_URL": "sqlite:///x.sqlite", "API_KEYS": [{"name": "storefront", "key": "sk"}]}
    monkeypatch.setattr(cli_service, "prepare", lambda *args, **options: config)
    monkeypatch.delenv("TAILORCARD_JOB_QUEUE", raising=False)
    execs = []
    monkeypatch.setattr(os, "execvpe", lambda file, args, env: execs.append(env))
    result = CliRunner().invoke(main, ["serve", "--workers", "2", "--instance", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [env] = execs
    assert env["TAILORCARD_JOB_QUEUE"] == "none" and env[gunicorn_config.LOCAL_WORKER] == "1"


def test_a_configured_job_queue_keeps_its_workers(tmp_path, monkeypatch):
    monkeypatch.delenv("TAILORCARD_JOB_QUEUE", raising=False)
    monkeypatch.setenv(gunicorn_config.LOCAL_WORKER, "1")  # left over from elsewhere: not inherited blindly
    (tmp_path / "config.json").write_text(json.dumps({"JOB_QUEUE": "rq"}))
    env = cli_service.web_environment({}, tmp_path)
    assert env["TAILORCARD_JOB_QUEUE"] == "rq" and gunicorn_config.LOCAL_WORKER not in env
    monkeypatch.setenv("TAILORCARD_JOB_QUEUE", "none")  # you run `tailorcard worker` processes yourself
    env = cli_service.web_environment({}, tmp_path)
    assert env["TAILORCARD_JOB_QUEUE"] == "none" and gunicorn_config.LOCAL_WORKER not in env
    monkeypatch.setenv("TAILORCARD_JOB_QUEUE", "thread")  # a thread in every web worker: not with gunicorn
    env = cli_service.web_environment({}, tmp_path)
    assert env["TAILORCARD_JOB_QUEUE"] == "none" and env[gunicorn_config.LOCAL_WORKER] == "1"


def test_the_local_worker_does_not_outlive_a_sigterm_to_serve(tmp_path):
    port = free_port()
    command = [str(Path(sys.executable).with_name("tailorcard")), "serve", "--port", str(port), "--host", "127.0.0.1",
               "--workers", "1", "--instance", str(tmp_path / "instance"), "--users", "12", "--segments", "2",
               "--catalogue", str(copy_catalogue(tmp_path / "catalogue", 12)), "--generator", "none"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("TAILORCARD_")}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_until_ready(port, server)
        worker = local_worker_of(server.pid)
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def local_worker_of(master_pid: int, timeout: float = 20.0) -> psutil.Process:
    """The `tailorcard worker` child of gunicorn's master (started once the master is ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(master_pid).children():
            with contextlib.suppress(psutil.NoSuchProcess):
                if "worker" in child.cmdline() and "--exit-with-parent" in child.cmdline():
                    return child
        time.sleep(0.1)
    raise AssertionError("gunicorn's master started no local job worker")
