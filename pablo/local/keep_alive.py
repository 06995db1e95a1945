"""HTTP keep-alive for the emulator's server: a client's connection serves many requests.

werkzeug's development server answers every request with `Connection: close`, because
Python's http.server cannot tell the unread rest of a request's body from the next request
line. So every AWS call of every Lambda worker opened a new TCP connection: a name lookup
and a connect in the worker (9% of a daily engagement invocation's samples on a loaded
machine), an accept and a new thread in the emulator (on a quiet machine, 900 mixed S3 and
DynamoDB calls cost the emulator 5.67 ms of CPU each, 5.22 ms with connections kept).

Here each request's body is read to its end before its answer is sent
(`KeepAliveMiddleware`), and only then does the handler leave the connection open
(`KeepAliveRequestHandler`); anything that goes wrong keeps werkzeug's `Connection: close`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, BinaryIO, Final

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.wsgi import LimitedStream

# Set in a request's environ once its body has been read whole and its answer is complete.
KEEP_ALIVE_KEY: Final = "pablo.keep_alive"
# An idle connection is closed after this long (its thread ends with it).
IDLE_SECONDS: Final = 60
_DRAIN_CHUNK: Final = 64 * 1024

StartResponse = Callable[..., Any]


class KeepAliveMiddleware:
    """Reads each request's body to its end after the application answered, and marks the
    request so its connection may stay open."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if not environ.get("wsgi.input_terminated"):  # chunked input ends by itself
            length = int(environ.get("CONTENT_LENGTH") or 0)
            environ["wsgi.input"] = LimitedStream(environ["wsgi.input"], length)
        answer = self._app(environ, start_response)
        try:
            # The whole answer now: an error while producing it must still close.
            body = list(answer)
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
        stream = environ["wsgi.input"]
        while stream.read(_DRAIN_CHUNK):
            pass
        environ[KEEP_ALIVE_KEY] = True
        return body


class _ReadGuard:
    """The connection's input as werkzeug's handler reads it: once a request is answered,
    `read` returns nothing. werkzeug's handler ends each request by reading whatever the
    socket holds (safe only when it then closes): with the connection kept, that would be
    the next request."""

    def __init__(self, stream: BinaryIO, handler: KeepAliveRequestHandler) -> None:
        self._stream = stream
        self._handler = handler

    def read(self, size: int = -1) -> bytes:
        if self._handler.answered:
            return b""
        return self._stream.read(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler, leaving the connection open after a request
    KeepAliveMiddleware marked."""

    timeout = IDLE_SECONDS
    # werkzeug writes a response's headers and body in separate sends: with Nagle's algorithm
    # the body waits for the client's delayed ACK of the headers (40 ms) on a kept connection.
    disable_nagle_algorithm = True
    _environ: dict[str, Any]

    def setup(self) -> None:
        super().setup()
        self._environ = {}
        self.rfile = _ReadGuard(self.rfile, self)  # type: ignore[assignment,arg-type]

    @property
    def answered(self) -> bool:
        return bool(self._environ.get(KEEP_ALIVE_KEY))

    def make_environ(self) -> dict[str, Any]:
        self._environ = super().make_environ()
        return self._environ

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and self.answered:
            return  # http.server keeps the connection unless this header is sent
        super().send_header(keyword, value)
