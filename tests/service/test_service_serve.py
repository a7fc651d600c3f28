"""`tailorcard serve` becomes gunicorn (exec), so the PID the user started is the server: signalling it stops it."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner
from tiny_models import copy_catalogue

from lab.load import free_port
from service import cli_service
from service.cli import main


def test_serve_replaces_itself_with_gunicorn_and_starts_no_child(tmp_path, monkeypatch):
    config = {"DATABASE_URL": "sqlite:///x.sqlite", "API_KEYS": [{"name": "storefront", "key": "sk"}]}
    monkeypatch.setattr(cli_service, "prepare", lambda *args, **options: config)
    execs = []
    monkeypatch.setattr(os, "execvpe", lambda file, args, env: execs.append((file, args, env)))
    for starter in ("run", "Popen", "call"):
        monkeypatch.setattr(subprocess, starter, a_child)
    result = CliRunner().invoke(main, ["serve", "--port", "8123", "--workers", "3", "--instance", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [(file, args, env)] = execs
    assert args == cli_service.gunicorn_command("localhost:8123", 3) and file == args[0] == sys.executable
    assert env["TAILORCARD_DATABASE_URL"] == "sqlite:///x.sqlite" and env["TAILORCARD_INSTANCE"] == str(tmp_path)


def a_child(*args, **kwargs):
    raise AssertionError("serve started gunicorn as a child, which outlives a signal to `tailorcard serve`")


def test_sigterm_to_the_serve_pid_stops_the_server(tmp_path):
    port = free_port()
    command = [str(Path(sys.executable).with_name("tailorcard")), "serve", "--port", str(port), "--host", "127.0.0.1",
               "--workers", "1", "--instance", str(tmp_path / "instance"), "--users", "12", "--segments", "2",
               "--catalogue", str(copy_catalogue(tmp_path / "catalogue", 12)), "--generator", "none"]
    # its own process group, so the clean-up below also reaches a server left behind by a failing run
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until_ready(port, server)
        server.send_signal(signal.SIGTERM)
        assert server.wait(20) == 0  # gunicorn's master stops its workers, then exits cleanly
        assert not answers(port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until_ready(port: int, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not answers(port):
        assert server.poll() is None, f"tailorcard serve exited with status {server.returncode}"
        assert time.monotonic() < deadline, f"tailorcard serve did not answer within {timeout:.0f} s"
        time.sleep(0.2)
