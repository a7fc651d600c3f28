"""gunicorn settings for `tailorcard serve` and `tailorcard bench service` (`--config python:service.gunicorn_config`).

gunicorn drops the hop-by-hop headers a WSGI app sets, `Connection` among them, and decides keep-alive
itself. So a 413 that left the request body unread went out as `Connection: keep-alive`, then gunicorn
closed the socket (it drains at most 64 KiB of an unread body) and the client's next request on that
connection failed. The hook below makes gunicorn close, and say so, whenever the app answers
`Connection: close` (service.errors does for every 413 whose body was not read).

With TAILORCARD_LOCAL_WORKER=1 (`tailorcard serve` sets it; its web workers only queue jobs), the master starts
one low-priority `tailorcard worker` beside the web workers once it is ready, and stops it when it exits; the
worker also stops by itself if the master dies without saying so (it watches its parent).
"""
from __future__ import annotations

import os
import subprocess
import sys

# gunicorn answers a request line over 4,094 bytes with its own HTML 414; at its maximum, a long path
# (an id far over the id rule's 128 characters) reaches the app and gets the app's JSON 400 instead
limit_request_line = 8190
# gunicorn 24+ opens a control socket at one path per user ($HOME/.gunicorn/gunicorn.ctl), so a second instance
# (a bench beside a demo, parallel test servers) fights the first for it; nothing here uses it
control_socket_disable = True


def post_worker_init(worker) -> None:
    worker.wsgi = honouring_connection_close(worker.wsgi)


def honouring_connection_close(app):
    def wrapped(environ, start_response):
        def start(status, headers, exc_info=None):
            # gunicorn's start_response is a method of its Response, whose force_close() makes it send
            # `Connection: close` and close the socket after this response
            response = getattr(start_response, "__self__", None)
            if wants_close(headers) and hasattr(response, "force_close"):
                response.force_close()
            return start_response(status, headers, exc_info)
        return app(environ, start)
    return wrapped


def wants_close(headers) -> bool:
    return any(name.lower() == "connection" and value.strip().lower() == "close" for name, value in headers)


LOCAL_WORKER = "TAILORCARD_LOCAL_WORKER"
_local_worker: subprocess.Popen | None = None


def worker_command() -> list[str]:
    """`tailorcard worker` as a child of gunicorn's master (the same Python, the same environment).
    `python -m service.cli` would not do: run as __main__, the module misses the commands registered on it."""
    return [sys.executable, "-c", "from service.cli import main; main(prog_name='tailorcard')", "worker",
            "--exit-with-parent"]


def when_ready(server) -> None:
    global _local_worker
    if os.environ.get(LOCAL_WORKER) == "1" and _local_worker is None:
        _local_worker = subprocess.Popen(worker_command(), env=dict(os.environ))
        server.log.info("Started the local job worker (pid %s, low priority)", _local_worker.pid)


def on_exit(server) -> None:
    global _local_worker
    if _local_worker is not None:
        stop_process(_local_worker)
        server.log.info("Stopped the local job worker (pid %s)", _local_worker.pid)
        _local_worker = None


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM (the worker finishes the job in hand), then SIGKILL after `timeout` s (the job's lease brings
    it back)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
