"""A small in-memory LRU of images made on request, one per app and purpose (colour previews, card-size copies of
photos): the bytes are made again only when a key falls out. Keys carry the photo's content hash, so a changed
photo never finds an old image. Made outside the lock: two requests may both make one, which is cheap."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import current_app


def cached_image(purpose: str, key: Hashable, make: Callable[[], bytes], size: int) -> bytes:
    """The app's `purpose` cache's bytes for `key`, made by `make()` on a miss; at most `size` kept."""
    cache, lock = current_app.extensions.setdefault(f"tailorcard.images.{purpose}", (OrderedDict(), threading.Lock()))
    with lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    image = make()
    with lock:
        cache[key] = image
        while len(cache) > size:
            cache.popitem(last=False)
    return image
