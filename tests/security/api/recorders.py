"""Loopback HTTP servers that record what reaches them: the "internal" services a tenant must not
reach, the allowed receivers, a redirector, an MCP endpoint that answers with a secret."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/plain"})


class Recorder:
    """``with Recorder() as server``: an HTTP server on 127.0.0.1 answering every request with
    ``reply`` and keeping what it got in ``seen``."""

    def __init__(self, reply: Reply | None = None) -> None:
        self.reply = reply or Reply()
        self.seen: list[Seen] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                reply = recorder.reply
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, condition: Callable[[list[Seen]], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self.seen):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; seen: {[(s.method, s.path) for s in self.seen]}")
            time.sleep(0.05)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
