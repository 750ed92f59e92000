"""A small HTTP/1.1 server for one ASGI app on an asyncio unix socket (or, for boxes the host
reaches over a network, a TCP port with mutual TLS: :func:`serve_tcp_tls`), built on h11.

Keep-alive; request bodies are streamed to the app's ``receive`` as they arrive; a response the
app sends in one piece gets a ``content-length``, a streamed one (``more_body``) is sent chunked
and flushed per chunk. When the client closes the connection, ``receive`` reports
``http.disconnect`` (sandboxd uses that to kill a command whose caller went away).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from typing import Any

import h11

from runtime.sandboxd.app import Message, Receive, Scope, Send

log = logging.getLogger("sandboxd.server")

READ_SIZE = 65536
MAX_DRAIN = 64 * 1024 * 1024
"""Unread request body we discard to keep a connection alive; beyond that we close it."""

ASGIApp = Any


class _Disconnected(Exception):
    pass


class _Connection:
    def __init__(self, app: ASGIApp, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.app, self.reader, self.writer = app, reader, writer
        self.conn = h11.Connection(h11.SERVER)
        self.closed = False

    async def _next_event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(READ_SIZE)
            if not data:
                self.closed = True
            self.conn.receive_data(data)

    async def serve(self) -> None:
        try:
            while True:
                event = await self._next_event()
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed, or PAUSED after a protocol error
                await self._handle(event)
                if not await self._finish_cycle():
                    return
        except (h11.RemoteProtocolError, ConnectionError, _Disconnected) as e:
            log.debug("connection ended: %r", e)
        finally:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def _finish_cycle(self) -> bool:
        drained = 0
        while self.conn.their_state is h11.SEND_BODY and drained < MAX_DRAIN and not self.closed:
            event = await self._next_event()  # the app did not read the whole body
            if isinstance(event, h11.Data):
                drained += len(event.data)
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE and not self.closed:
            self.conn.start_next_cycle()
            return True
        return False

    async def _handle(self, request: h11.Request) -> None:
        path, _, query = request.target.partition(b"?")
        scope: Scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": request.http_version.decode(),
            "method": request.method.decode(), "scheme": "http", "path": path.decode("utf-8", "replace"),
            "raw_path": path, "query_string": query, "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers], "client": None, "server": None,
        }
        try:
            await self.app(scope, self._receive, self._send)
        except _Disconnected:
            self.closed = True
        except Exception:
            log.exception("app failed on %s %s", scope["method"], scope["path"])
            if self.conn.our_state is h11.SEND_RESPONSE and not self.closed:
                await self._write(h11.Response(status_code=500, headers=[(b"content-length", b"0")]))
                await self._write(h11.EndOfMessage())
        if self.conn.our_state is not h11.DONE:
            self.closed = True  # the app left the response unfinished: this connection is unusable

    @property
    def _receive(self) -> Receive:
        async def receive() -> Message:
            if self.conn.their_state is h11.SEND_BODY:
                event = await self._next_event()
                if isinstance(event, h11.Data):
                    return {"type": "http.request", "body": bytes(event.data), "more_body": True}
                if isinstance(event, h11.EndOfMessage):
                    return {"type": "http.request", "body": b"", "more_body": False}
                return {"type": "http.disconnect"}
            # Body done: wait for the client to go away (bytes of a pipelined request wait in h11).
            while not self.closed:
                data = await self.reader.read(READ_SIZE)
                if not data:
                    self.closed = True
                else:
                    self.conn.receive_data(data)
            return {"type": "http.disconnect"}

        return receive

    @property
    def _send(self) -> Send:
        pending: dict[str, Any] = {}

        async def send(message: Message) -> None:
            if self.closed:
                raise _Disconnected
            if message["type"] == "http.response.start":
                pending["status"] = message["status"]
                pending["headers"] = list(message.get("headers", []))
                return
            body, more = message.get("body", b""), message.get("more_body", False)
            if "status" in pending:
                headers = pending.pop("headers")
                if not more and not any(k.lower() == b"content-length" for k, _ in headers):
                    headers.append((b"content-length", str(len(body)).encode()))
                await self._write(h11.Response(status_code=pending.pop("status"), headers=headers))
            if body:
                await self._write(h11.Data(data=body))
            if not more:
                await self._write(h11.EndOfMessage())

        return send

    async def _write(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()


async def serve_unix(app: ASGIApp, path: str, *, mode: int = 0o600) -> asyncio.AbstractServer:
    """Listen on a unix socket at ``path`` (replacing a stale one); returns the started server."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _Connection(app, reader, writer).serve()

    server = await asyncio.start_unix_server(on_connect, path, limit=READ_SIZE)
    os.chmod(path, mode)
    return server


def server_tls_context(cert: str, key: str, client_cert: str) -> ssl.SSLContext:
    """TLS 1.3, this box's certificate, and only the host's certificate accepted from clients."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=client_cert)
    return ctx


async def serve_tcp_tls(
    app: ASGIApp, host: str, port: int, context: ssl.SSLContext
) -> asyncio.AbstractServer:
    """Listen on ``host:port`` with ``context`` (a failed handshake closes the connection before
    any HTTP is read); returns the started server."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _Connection(app, reader, writer).serve()

    return await asyncio.start_server(
        on_connect, host, port, ssl=context, limit=READ_SIZE, ssl_handshake_timeout=10.0
    )
