"""Durable background jobs: a `jobs` table is the queue; workers claim, run and settle rows.

Who runs them (service/README.md): `tailorcard serve`'s web workers only queue (JOB_QUEUE
"none") and one low-priority `tailorcard worker` process beside gunicorn runs them (`run_worker`);
the dev server (`--workers 0`) runs an in-process worker thread (JOB_QUEUE "thread"). In
production, `JOB_QUEUE = "rq"` also hands each job id to RQ over Redis, and `rq worker
tailorcard` processes on other machines run it (see service/README.md for why RQ). Either
way the row is the truth: a job queued or interrupted before a restart is run after it.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
import traceback

import sqlalchemy as sa

from features.errors import TailorcardError
from service.db import insert_ignoring_duplicates, jobs

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
RQ_QUEUE_NAME = "tailorcard"


class JobQueue:
    def __init__(self, engine: sa.Engine, handlers: dict, context, lease_seconds: float = 600.0, rq_queue=None):
        """`context()` gives the context handlers run in (the Flask app context)."""
        self.engine, self.handlers, self.context = engine, handlers, context
        self.lease_seconds, self.rq_queue = lease_seconds, rq_queue
        self.on_finished = None  # callback(kind, seconds, outcome), e.g. metrics

    def enqueue(self, kind: str, key: str, payload: dict, priority: int = 0) -> bool:
        """Queue work once per key (a second request for the same work is a no-op); True if new."""
        if kind not in self.handlers:
            raise ValueError(f"unknown job kind {kind!r}; expected one of {sorted(self.handlers)}")
        now = time.time()
        row = {"kind": kind, "key": key, "payload": payload, "priority": priority, "status": "queued",
               "attempts": 0, "created_at": now, "updated_at": now}
        with self.engine.begin() as connection:
            new = insert_ignoring_duplicates(connection, jobs, [row]) == 1
            job_id = connection.execute(sa.select(jobs.c.id).where(jobs.c.key == key)).scalar()
        if new:
            self._push(job_id)
        return new

    def _push(self, job_id: int) -> bool:
        """Tell RQ workers (if any) about a queued row; the in-process thread polls instead. Redis out of reach
        costs no request: the row stays queued (the truth), announced again at the next start or run by a
        `tailorcard worker`, which reads the table. False when it could not be announced."""
        if self.rq_queue is None:
            return True
        try:
            self.rq_queue.enqueue("service.jobs.run_job_by_id", job_id)
        except Exception as exc:  # redis' ConnectionError, a timeout, a full Redis: never the caller's failure
            log.warning("job %s stays queued unannounced: RQ's Redis is out of reach (%s: %s)", job_id,
                        type(exc).__name__, exc)
            return False
        return True

    def depth(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).where(jobs.c.status == "queued")).scalar()

    def status(self, key: str) -> dict | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(jobs).where(jobs.c.key == key)).mappings().first()
        return dict(row) if row else None

    def requeue_interrupted(self) -> int:
        """Jobs left 'running' longer than the lease (their worker died) go back to the queue."""
        with self.engine.begin() as connection:
            return connection.execute(jobs.update().where(
                jobs.c.status == "running", jobs.c.updated_at < time.time() - self.lease_seconds)
                .values(status="queued", updated_at=time.time())).rowcount

    def recover(self) -> None:
        """At start: take back interrupted jobs, and re-announce queued ones to RQ (Redis may have lost them);
        with Redis out of reach the web tier starts all the same, and the rows wait."""
        self.requeue_interrupted()
        if self.rq_queue is not None:
            with self.engine.connect() as connection:
                queued = connection.execute(sa.select(jobs.c.id).where(jobs.c.status == "queued")).scalars().all()
            for job_id in queued:
                if not self._push(job_id):
                    break  # one warning is enough: the rest would fail alike

    def claim(self, job_id: int | None = None) -> dict | None:
        """Take the most wanted queued job (or the given one); the UPDATE makes the claim atomic."""
        with self.engine.begin() as connection:
            for _ in range(5):  # another worker may win the race for a row; then try the next
                query = sa.select(jobs).where(jobs.c.status == "queued")
                query = query.where(jobs.c.id == job_id) if job_id is not None else \
                    query.order_by(jobs.c.priority.desc(), jobs.c.id).limit(1)
                job = connection.execute(query).mappings().first()
                if job is None:
                    return None
                taken = connection.execute(jobs.update().where(jobs.c.id == job["id"], jobs.c.status == "queued")
                                           .values(status="running", attempts=jobs.c.attempts + 1,
                                                   updated_at=time.time())).rowcount
                if taken:
                    return dict(job)
        return None

    def run(self, job: dict) -> str:
        """Run a claimed job and settle its row: done, queued again (retry) or failed."""
        started = time.perf_counter()
        try:
            with self.context():
                self.handlers[job["kind"]](job["payload"])
            outcome, error = "done", None
        except Exception:
            log.exception("job %s (%s) failed", job["id"], job["kind"])
            outcome = "queued" if job["attempts"] + 1 < MAX_ATTEMPTS else "failed"
            error = traceback.format_exc(limit=5)
        with self.engine.begin() as connection:
            connection.execute(jobs.update().where(jobs.c.id == job["id"])
                               .values(status=outcome, error=error, updated_at=time.time()))
        if outcome == "queued":
            self._push(job["id"])
        if self.on_finished:
            self.on_finished(job["kind"], time.perf_counter() - started, outcome)
        return outcome

    def run_pending(self, limit: int | None = None) -> int:
        """Run queued jobs in this thread until none is left (or `limit`); returns how many ran."""
        ran = 0
        while limit is None or ran < limit:
            job = self.claim()
            if job is None:
                break
            self.run(job)
            ran += 1
        return ran


class InProcessWorker(threading.Thread):
    """Keeps taking jobs, one at a time; sleeps `poll_seconds` when the queue is empty. A daemon thread
    (`start()`), or the foreground loop of a worker process (`run()`, see run_worker). It stops after the job
    in hand once `stop()` is called or `alive()` turns False."""

    def __init__(self, queue: JobQueue, poll_seconds: float = 1.0, alive=None, claims: bool = True):
        super().__init__(name="tailorcard-jobs", daemon=True)
        self.queue, self.poll_seconds, self.claims = queue, poll_seconds, claims
        self.alive = alive or (lambda: True)
        self.stopping = threading.Event()
        self.ran = 0

    def run(self) -> None:
        while not self.stopping.is_set() and self.alive():
            try:
                ran = self.queue.run_pending(limit=1) if self.claims else 0
            except Exception:  # a database hiccup must not kill the worker for good
                log.exception("job worker: cannot reach the queue")
                ran = 0
            self.ran += ran
            if not ran:
                self.stopping.wait(self.poll_seconds)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


def run_worker(queue: JobQueue, poll_seconds: float = 1.0, parent_pid: int | None = None, claims: bool = True) -> int:
    """Run jobs in this (main) thread until SIGTERM or SIGINT, finishing the job in hand (a second signal stops
    at once; that job's lease brings it back), or, given `parent_pid`, until this process's parent is no longer
    that process (it died: an orphaned worker stops). Returns how many jobs ran. `claims` False: take none (a
    worker that cannot make images waits, leaving the rows to one that can)."""
    alive = None if parent_pid is None else (lambda: os.getppid() == parent_pid)
    worker = InProcessWorker(queue, poll_seconds, alive, claims)

    def stop(signum, _frame):
        if worker.stopping.is_set():
            raise SystemExit(128 + signum)
        log.info("job worker: %s, stopping after the job in hand", signal.Signals(signum).name)
        worker.stopping.set()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return worker.ran


NO_GENERATOR = ("this worker has no image generator, so a job would be settled with nothing made: set "
                "TAILORCARD_VARIANTS (the scene generator spec the web tier serves with, e.g. embedded) and "
                "TAILORCARD_INSTANCE (the instance folder whose variants/ the web tier reads: shared between machines)")


class WorkerMisconfigured(TailorcardError):
    """A job worker that would settle jobs without making anything."""


def can_generate(app) -> bool:
    """Whether the app's variant store makes images: a worker without one must leave jobs to one that has."""
    return bool(getattr(app.extensions["tailorcard"].variants, "generates", True))  # as service.generation reads it


def rq_queue_for(redis_url: str):
    from redis import Redis
    from rq import Queue
    return Queue(RQ_QUEUE_NAME, connection=Redis.from_url(redis_url))


_worker_app = None


def set_worker_app(app) -> None:
    """The app an RQ worker process runs jobs in (default: create_app() from the environment)."""
    global _worker_app
    _worker_app = app


def run_job_by_id(job_id: int) -> str:
    """RQ's entry point: claim this job row and run it; a row already taken or settled is skipped. A worker that
    cannot make images (no TAILORCARD_VARIANTS) refuses before claiming, so the row waits for one that can."""
    global _worker_app
    if _worker_app is None:
        from service.app import create_app
        # configured from the environment, as the web workers are; RQ forks a process per job, which must not
        # re-announce the whole queue as a web worker's start does
        _worker_app = create_app({"RECOVER_JOBS_AT_START": False})
    if not can_generate(_worker_app):
        raise WorkerMisconfigured(NO_GENERATOR)  # RQ records it as the job's failure; the row stays queued
    queue = _worker_app.extensions["tailorcard"].jobs
    job = queue.claim(job_id)
    return "skipped" if job is None else queue.run(job)
