"""Where a catalogue's photo comes from: a file path, a file:// URL, or an http(s) URL fetched once.

A fetched photo is kept on disk under the SHA-256 of its URL, so loading the catalogue again reads
the copy instead of the network. Only bytes that pass the image checks are kept. The cache never
expires: a store that changes the photo behind a URL gives it a new URL (or clears the cache).
"""
from __future__ import annotations

import hashlib
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from features.errors import ImageError
from features.files import write_atomically
from features.images import check_image

FETCH_TIMEOUT_S = 10.0  # per connect and per read: a stalled server costs at most this long each time
MAX_IMAGE_BYTES = 20_000_000
USER_AGENT = "tailorcard-catalogue/1"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_web_url(location: str) -> bool:
    return url_scheme(location) in ("http", "https")


def url_scheme(location: str) -> str | None:
    """The scheme of `scheme://...` in lower case; None for a plain path (also a Windows `C:\\...`)."""
    found = _SCHEME.match(location)
    return found.group(1).lower() if found else None


def local_image_path(location: str, root: Path) -> Path:
    """A path as written (relative to the catalogue's folder) or a file:// URL, as a local path."""
    if url_scheme(location) == "file":
        return Path(urllib.request.url2pathname(urllib.parse.urlparse(location).path))
    return root / location


@dataclass
class ImageFetcher:
    """Fetches photos named by http(s) URL, with a timeout, a size limit and the image checks.

    `cache_dir` None keeps nothing; `write_cache` False reads an existing cache but writes nothing
    (`tailorcard catalogue check` changes no file)."""

    cache_dir: Path | None = None
    write_cache: bool = True
    timeout_s: float = FETCH_TIMEOUT_S
    max_bytes: int = MAX_IMAGE_BYTES

    def cached_file(self, url: str) -> Path | None:
        return self.cache_dir / hashlib.sha256(url.encode()).hexdigest() if self.cache_dir else None

    def fetch(self, url: str) -> bytes:
        """The photo's bytes, from the cache when there, else downloaded, checked and cached."""
        cached = self.cached_file(url)
        if cached is not None and cached.is_file():
            return cached.read_bytes()
        data, content_type = self._download(url)
        self._check(url, data, content_type)
        if cached is not None and self.write_cache:
            _write_atomically(cached, data)
        return data

    def local_file(self, url: str) -> Path:
        """The cached copy of the photo (fetched first when needed; a cached one is not read)."""
        cached = self.cached_file(url)
        if cached is None or not cached.is_file():
            self.fetch(url)
        if cached is None or not cached.is_file():
            raise ImageError(f"{url}: fetched photos are not kept on disk here (no writable image cache)")
        return cached

    def _download(self, url: str) -> tuple[bytes, str]:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                self._check_declared_size(url, response.headers.get("Content-Length"))
                data = response.read(self.max_bytes + 1)
                content_type = response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            raise ImageError(f"{url}: the server answered HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise ImageError(f"{url}: {_network_problem(exc.reason, self.timeout_s)}") from None
        except (OSError, HTTPException) as exc:
            raise ImageError(f"{url}: {_network_problem(exc, self.timeout_s)}") from None
        if len(data) > self.max_bytes:
            raise ImageError(f"{url}: the photo is larger than the limit of {self.max_bytes} bytes")
        return data, content_type

    def _check_declared_size(self, url: str, declared: str | None) -> None:
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise ImageError(f"{url}: the photo is {declared} bytes; the limit is {self.max_bytes}")

    @staticmethod
    def _check(url: str, data: bytes, content_type: str) -> None:
        try:
            check_image(data, name=url)
        except ImageError as exc:
            if content_type.startswith("image/"):
                raise
            raise ImageError(f"{url}: the server sent {content_type}, not a photo ({len(data)} bytes)") from None


def _network_problem(reason, timeout_s: float) -> str:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout_s:g} s"
    if isinstance(reason, OSError) and reason.strerror:
        return f"cannot fetch ({reason.strerror})"
    return f"cannot fetch ({type(reason).__name__}: {reason})"


def _write_atomically(path: Path, data: bytes) -> None:
    """Never half a photo under the final name (features.files); a folder that cannot be written is named."""
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise ImageError(f"{path}: cannot write the image cache ({exc.strerror}); give another cache folder") from None