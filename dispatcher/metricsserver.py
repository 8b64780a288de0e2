"""The HTTP server behind `--metrics-port`: prometheus_client's WSGI app on a threading WSGI
server (as its own `start_http_server`), but one that tells when a response carrying the
run's final figures has been written out whole: only then may a run that lingers for that
scrape exit, or the process would cut the very response it waited for."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

_request = threading.local()  # what the scrape being answered on this thread read


def mark_final() -> None:
    """Called by a collector that is serving the final figures, on the request's thread."""
    _request.final = True


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scraper that never reads must not keep the process alive


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape is no news; the run's own output is what the terminal is for


class _Body:
    """A response body whose close() (wsgiref calls it once the body is written) tells."""

    def __init__(self, chunks: Iterable[bytes], final: bool, written: threading.Event) -> None:
        self._chunks, self._final, self._written = chunks, final, written

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)

    def close(self) -> None:
        if self._final:
            self._written.set()


def start(
    host: str, port: int, app: Callable[..., Iterable[bytes]], final_written: threading.Event
) -> tuple[WSGIServer, threading.Thread]:
    """Serve `app` on host:port from a thread; OSError (socket.gaierror included) when the
    address cannot be had."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    def tracked(environ: dict[str, Any], start_response: Callable[..., Any]) -> _Body:
        _request.final = False
        chunks = app(environ, start_response)
        return _Body(chunks, _request.final, final_written)

    server_class = type("_Server", (_Server,), {"address_family": family})
    server: WSGIServer = make_server(host, port, tracked, server_class, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server, thread
