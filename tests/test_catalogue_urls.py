"""Photos named by http(s) URL: fetched from a local test server (never the network), checked, cached."""
import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from features.catalogue import IMAGE_CACHE, check_catalogue, load_catalogue
from features.errors import CatalogueError
from features.ids import product_key
from features.image_sources import ImageFetcher
from store_catalogues import GROCERY_CSV, write_grocery_catalogue

BIG = 5_000  # bytes the /big handlers send; the fetchers below allow 4,000


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 30), (10, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.requests.append(self.path)
        if self.path == "/slow.jpg":
            time.sleep(0.5)
        if self.path in ("/photo.jpg", "/slow.jpg"):
            return self._send(200, "image/jpeg", _jpeg())
        if self.path == "/big-declared.jpg":
            return self._send(200, "image/jpeg", b"\xff" * BIG)
        if self.path == "/big-undeclared.jpg":
            return self._send(200, "image/jpeg", b"\xff" * BIG, declare_length=False)
        if self.path == "/page.jpg":
            return self._send(200, "text/html", b"<html><body>Sign in to see this photo</body></html>")
        self._send(404, "text/plain", b"gone")

    def _send(self, status: int, content_type: str, body: bytes, declare_length: bool = True):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if declare_length:
            self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout, size limit): as intended

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    _Handler.requests = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _grocery_with_urls(tmp_path, urls: dict[str, str]):
    """The grocery catalogue with some photos replaced by URLs: {"images/milk.png": url}."""
    folder = write_grocery_catalogue(tmp_path / "grocery")
    text = GROCERY_CSV
    for path, url in urls.items():
        text = text.replace(path, url)
    (folder / "catalogue.csv").write_text(text)
    return folder


def test_a_photo_url_is_fetched_once_and_cached_beside_the_catalogue(server, tmp_path):
    photo = f"{server}/photo.jpg"
    folder = _grocery_with_urls(tmp_path, {"images/milk.png": photo, "images/bread.png": photo})
    catalogue = load_catalogue(folder)
    milk, bread = product_key("MLK-010"), product_key("BRD-7")
    assert _Handler.requests == ["/photo.jpg"]  # two products, one URL: one fetch
    assert catalogue.load_image(milk).size == (20, 30) and catalogue.image_bytes(bread) == _jpeg()
    assert catalogue.image_path(milk).parent == folder / IMAGE_CACHE
    again = load_catalogue(folder)
    assert again.content_hash(milk) == catalogue.content_hash(milk) and _Handler.requests == ["/photo.jpg"]


def test_check_reads_urls_but_writes_no_cache(server, tmp_path):
    folder = _grocery_with_urls(tmp_path, {"images/milk.png": f"{server}/photo.jpg"})
    check = check_catalogue(folder, images=ImageFetcher(folder / IMAGE_CACHE, write_cache=False))
    assert not check.problems and check.photo_urls == 1 and not (folder / ".tailorcard").exists()


@pytest.mark.parametrize("path, message", [
    ("/slow.jpg", "no answer within 0.2 s"),
    ("/big-declared.jpg", "the photo is 5000 bytes; the limit is 4000"),
    ("/big-undeclared.jpg", "the photo is larger than the limit of 4000 bytes"),
    ("/page.jpg", "the server sent text/html, not a photo (51 bytes)"),
    ("/missing.jpg", "the server answered HTTP 404 Not Found"),
])
def test_a_bad_photo_url_names_the_product_the_url_and_the_reason(server, tmp_path, path, message):
    url = f"{server}{path}"
    folder = _grocery_with_urls(tmp_path, {"images/milk.png": url})
    with pytest.raises(CatalogueError) as error:
        load_catalogue(folder, images=ImageFetcher(tmp_path / "cache", timeout_s=0.2, max_bytes=4_000))
    assert error.value.problems == [f"line 4: product MLK-010: {url}: {message}"]
    assert not (tmp_path / "cache").exists()  # nothing bad is cached


def test_an_unreachable_server_is_a_clear_row_error(tmp_path):
    url = "http://127.0.0.1:9/photo.jpg"  # the discard port: nothing listens
    folder = _grocery_with_urls(tmp_path, {"images/milk.png": url})
    with pytest.raises(CatalogueError) as error:
        load_catalogue(folder, images=ImageFetcher(tmp_path / "cache", timeout_s=1))
    assert error.value.problems[0].startswith(f"line 4: product MLK-010: {url}: cannot fetch (")
    assert "https:/" not in str(error.value) and "file not found" not in str(error.value)


def test_a_url_is_fetched_when_needed_when_images_are_not_checked(server, tmp_path):
    folder = _grocery_with_urls(tmp_path, {"images/milk.png": f"{server}/photo.jpg"})
    catalogue = load_catalogue(folder, check_images=False)
    assert _Handler.requests == []
    assert catalogue.load_image(product_key("MLK-010")).size == (20, 30) and _Handler.requests == ["/photo.jpg"]
