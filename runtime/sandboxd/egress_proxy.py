"""The egress proxy: ``python -m runtime.sandboxd.egress_proxy``, in a container of its own.

It listens on an internal Docker network (no route out) where the allowlist boxes live, and is
also attached to the egress bridge. Boxes reach it through ``HTTP_PROXY``/``HTTPS_PROXY``:
``CONNECT host:port`` opens a TLS tunnel; an absolute-URI request (``GET http://host/...``) is
forwarded as plain HTTP, one request per connection (``Connection: close`` upstream).

A connection's box is its source address on the internal network (boxes hold no capabilities, so
they cannot forge it); its allowlist comes from the policy file the host keeps in
``EGRESS_STATE_DIR`` (see :mod:`runtime.sandboxd.egress_policy`). Unknown clients, IP literals,
hosts outside the allowlist, and names that resolve to a loopback, link-local or (unless the
operator allowed it) private address get ``403`` with a body naming the host and the allowlist.
The proxy resolves names itself and connects to the address it checked (no second lookup).
Each decision is one JSON line on stderr (``docker logs``).

Environment: ``EGRESS_STATE_DIR`` (default ``/run/egress``), ``EGRESS_PORT`` (default 3128).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from runtime.sandboxd.egress_policy import (
    POLICY_FILE,
    READY_FILE,
    PolicyFile,
    address_problem,
    is_ip_literal,
    matches,
    normalize_host,
)

HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
_HOP_HEADERS = {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization", b"te",
                b"trailer", b"upgrade"}


class Denied(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Request:
    method: str
    host: str
    port: int
    path: str
    """Origin-form target (plain HTTP only)."""
    version: str
    headers: list[bytes]

    @property
    def tunnel(self) -> bool:
        return self.method == "CONNECT"


def parse_head(head: bytes) -> Request:
    """The request line and headers of a proxy request; raises ``Denied(400)`` when malformed."""
    lines = head.split(b"\r\n")
    try:
        method, target, version = lines[0].decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise Denied(400, "malformed request line") from None
    headers = [line for line in lines[1:] if line]
    if method == "CONNECT":
        url = urlsplit(f"//{target}")
        default_port, path = None, ""
    elif target.startswith("http://"):
        url = urlsplit(target)
        default_port = 80
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    else:
        raise Denied(400, f"not a proxy request: {target[:100]!r} (use CONNECT, or an http:// URL)")
    try:
        port = url.port or default_port
    except ValueError:
        port = None
    if not url.hostname or port is None:
        raise Denied(400, f"no host and port in {target[:100]!r}")
    return Request(method, url.hostname, port, path, version, headers)


class EgressProxy:
    def __init__(self, state_dir: Path) -> None:
        self.policy = PolicyFile(state_dir / POLICY_FILE)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = str(writer.get_extra_info("peername")[0])
        started = time.monotonic()
        upstream: asyncio.StreamWriter | None = None
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            writer.close()
            return
        domains: tuple[str, ...] = ()
        request: Request | None = None
        try:
            request = parse_head(head)
            rule = self.policy.current().boxes.get(client)
            if rule is None:
                raise Denied(403, f"client {client} is not a registered sandbox")
            domains = rule.domains
            up_reader, upstream = await self._connect(request, domains)
        except Denied as e:
            _log("deny", client, request, e.reason, started)
            await _refuse(writer, e, request, domains)
            return
        _log("allow", client, request, "", started)
        await self._relay(request, reader, writer, up_reader, upstream)

    async def _connect(
        self, request: Request, domains: tuple[str, ...]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if is_ip_literal(request.host):
            raise Denied(403, f"IP literal {request.host} refused: name a domain in the allowlist")
        host = normalize_host(request.host)
        if host is None or not matches(host, domains):
            raise Denied(403, f"host {request.host} is not in this sandbox's allowlist")
        private_ok = matches(host, self.policy.current().private_hosts)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, request.port, type=socket.SOCK_STREAM)
        except OSError as e:
            raise Denied(502, f"host {host} could not be resolved: {e}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            problem = address_problem(address, private_ok)
            if problem is not None:
                raise Denied(403, f"host {host} resolves to {problem}")
        last: OSError | None = None
        for address in addresses:
            try:
                opening = asyncio.open_connection(address, request.port)
                return await asyncio.wait_for(opening, CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError) as e:
                last = e if isinstance(e, OSError) else OSError(f"timed out after {CONNECT_TIMEOUT_S:g} s")
        raise Denied(502, f"could not connect to {host}:{request.port}: {last}")

    async def _relay(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader, upstream: asyncio.StreamWriter,
    ) -> None:
        if request.tunnel:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            upstream.write(_origin_head(request))
        try:
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        finally:
            for w in (upstream, writer):
                w.close()


def _origin_head(request: Request) -> bytes:
    """The request as the origin server expects it: origin-form target, no hop-by-hop headers,
    ``Connection: close`` (so a kept-alive client connection cannot carry a second, unchecked request)."""
    kept = [h for h in request.headers if h.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS]
    if not any(h.lower().startswith(b"host:") for h in kept):
        kept.insert(0, f"Host: {request.host}:{request.port}".encode())
    lines = [f"{request.method} {request.path} {request.version}".encode(), *kept, b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (OSError, RuntimeError):
        dst.close()


async def _refuse(
    writer: asyncio.StreamWriter, denied: Denied, request: Request | None, domains: tuple[str, ...]
) -> None:
    titles = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}
    allowed = ", ".join(domains) if domains else "(none)"
    body = f"Hangar egress proxy: {denied.reason}.\nAllowed domains for this sandbox: {allowed}\n".encode()
    head = (
        f"HTTP/1.1 {denied.status} {titles.get(denied.status, 'Error')}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nX-Hangar-Egress: denied\r\nConnection: close\r\n\r\n"
    ).encode()
    with contextlib.suppress(OSError):
        writer.write(head + (b"" if request is not None and request.method == "HEAD" else body))
        await writer.drain()
    writer.close()


def _log(decision: str, client: str, request: Request | None, reason: str, started: float) -> None:
    record = {
        "event": "egress", "decision": decision, "client": client,
        "method": request.method if request else None, "host": request.host if request else None,
        "port": request.port if request else None, "ms": round((time.monotonic() - started) * 1000, 1),
    }
    if reason:
        record["reason"] = reason
    print(json.dumps(record), file=sys.stderr, flush=True)


async def main() -> int:
    state_dir = Path(os.environ.get("EGRESS_STATE_DIR", "/run/egress"))
    port = int(os.environ.get("EGRESS_PORT", "3128"))
    proxy = EgressProxy(state_dir)
    server = await asyncio.start_server(proxy.handle, "0.0.0.0", port, limit=HEAD_LIMIT, backlog=512)
    (state_dir / READY_FILE).write_text(str(port))
    print(json.dumps({"event": "egress proxy listening", "port": port}), file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
