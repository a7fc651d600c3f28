"""How refusals look to a client: a 413 whose body was left unread closes the connection and says so (through
the Flask test client and through the real gunicorn command `tailorcard serve` runs); a bad upload's message
names the problem, not PIL's object reprs."""
from __future__ import annotations

import http.client
import io
import subprocess
import time

import pytest
from service_helpers import auth, make_app

from lab.load import free_port
from service.cli_service import gunicorn_command
from service.gunicorn_config import honouring_connection_close

ADMIN, STOREFRONT = auth("admin"), auth("storefront")


def put_title(client, title: str):
    return client.put("/v1/items/4242", data={"title": title}, headers=ADMIN, content_type="multipart/form-data")


def test_a_form_field_over_its_limit_gets_413_with_connection_close(client):
    response = put_title(client, "t" * 1_000_000)  # 1 MB: over the form field limit, under MAX_CONTENT_LENGTH
    assert response.status_code == 413 and response.headers["Connection"] == "close"


def test_a_body_over_max_content_length_gets_413_with_connection_close(database_url, tiny_encoder):
    client = make_app(database_url, tiny_encoder, MAX_CONTENT_LENGTH=10_000).test_client()
    response = put_title(client, "t" * 20_000)
    assert response.status_code == 413 and response.headers["Connection"] == "close"
    assert response.json["error"] == "request_entity_too_large"


def test_the_apps_own_413_read_the_whole_body_and_keep_the_connection(database_url, tiny_encoder):
    client = make_app(database_url, tiny_encoder, MAX_EVENTS_PER_REQUEST=1).test_client()
    events = [{"event_id": f"e{i}", "user_id": "u1", "item_id": 1, "type": "view"} for i in range(2)]
    response = client.post("/v1/events", json=events, headers=STOREFRONT)
    assert response.status_code == 413 and response.json["error"] == "too_many_events"
    assert "Connection" not in response.headers


class GunicornResponse:
    """The part of gunicorn's Response the hook uses: start_response is its method."""

    def __init__(self):
        self.closing, self.headers = False, None

    def force_close(self):
        self.closing = True

    def start_response(self, status, headers, exc_info=None):
        self.headers = headers


@pytest.mark.parametrize("headers, closing", [([("Connection", "close")], True), ([("connection", " Close ")], True),
                                              ([("Content-Type", "text/plain")], False)])
def test_the_hook_makes_gunicorn_close_when_the_app_says_so(headers, closing):
    app = honouring_connection_close(lambda environ, start_response: start_response("413 X", headers) or [b""])
    server = GunicornResponse()
    app({}, server.start_response)
    assert server.closing is closing and server.headers == headers


TINY_APP = '''
from flask import Flask, request
from service import errors

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = 10_000
errors.init_app(app)


@app.put("/upload")
def upload():
    return {"read": len(request.get_data())}
'''


def test_gunicorn_closes_after_an_unread_body_and_says_so(tmp_path):
    (tmp_path / "tiny_app.py").write_text(TINY_APP)
    port = free_port()
    server = subprocess.Popen(gunicorn_command(f"127.0.0.1:{port}", 1, "tiny_app:app"), cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        connection = serving_connection(port, server)
        connection.request("PUT", "/upload", body=b"x" * 500_000)  # far more than gunicorn drains (64 KiB)
        refused = connection.getresponse()
        refused.read()
        assert refused.status == 413 and refused.getheader("Connection") == "close"
        connection.request("PUT", "/upload", body=b"x" * 10)  # http.client opens a new connection, as told
        assert connection.getresponse().status == 200
    finally:
        server.terminate()
        server.wait(10)


def serving_connection(port: int, server: subprocess.Popen, timeout: float = 60.0) -> http.client.HTTPConnection:
    """A kept-alive connection on which a worker has answered (the master listens before its workers boot)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("PUT", "/upload", body=b"ping")
            answer = connection.getresponse()
            answer.read()
            if answer.status == 200 and answer.getheader("Connection") == "keep-alive":
                return connection
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not serve on {port} (exit status {server.poll()})")


def test_a_bad_upload_names_the_problem_without_object_reprs(client):
    data = {"title": "x", "image": (io.BytesIO(b"%PDF-1.4 not an image"), "photo.jpg")}
    response = client.put("/v1/items/4242", data=data, headers=ADMIN, content_type="multipart/form-data")
    assert response.status_code == 400 and response.json["error"] == "invalid_image"
    assert "cannot identify an image" in response.json["message"]
    assert "0x" not in response.json["message"] and "BytesIO" not in response.json["message"]
