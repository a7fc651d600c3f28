"""gunicorn settings for `tailorcard serve` and `tailorcard bench service` (`--config python:service.gunicorn_config`).

gunicorn drops the hop-by-hop headers a WSGI app sets, `Connection` among them, and decides keep-alive
itself. So a 413 that left the request body unread went out as `Connection: keep-alive`, then gunicorn
closed the socket (it drains at most 64 KiB of an unread body) and the client's next request on that
connection failed. The hook below makes gunicorn close, and say so, whenever the app answers
`Connection: close` (service.errors does for every 413 whose body was not read).
"""
from __future__ import annotations

# gunicorn answers a request line over 4,094 bytes with its own HTML 414; at its maximum, a long path
# (an id far over the id rule's 128 characters) reaches the app and gets the app's JSON 400 instead
limit_request_line = 8190


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
