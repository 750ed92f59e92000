"""The egress proxy: ``python -m runtime.sandboxd.egress_proxy``, in a container of its own.

It is the only member of its namespace's bridge network (``hangar-egress-<namespace>``); boxes have
no network at all (``network_mode="none"``). Each registered box gets its own unix socket,
``<EGRESS_BOXES_DIR>/<sandbox id>/proxy.sock``, in a directory mounted read-only into that box only,
where the box's relay (:mod:`runtime.sandboxd.egress_relay`) forwards ``127.0.0.1:3128``. So a
connection's box is the socket it arrived on: nothing a box sends can claim another box's rules.

The rules are one file per box in ``EGRESS_POLICY_DIR`` (mounted read-only: the proxy cannot change
them), rescanned every few milliseconds and at every new connection
(:class:`~runtime.sandboxd.egress_policy.PolicyDir`), so a replaced rule applies from the next
connection on; a box gets its socket once its file is there and loses it when the file goes.

``CONNECT host:port`` opens a tunnel; an absolute-URI request (``GET http://host/...``) is forwarded
as plain HTTP, one request per connection. Hosts outside the box's rule, IP literals (allowlist
boxes), and names or literals that resolve to a loopback, link-local, reserved or (unless the
operator allowed the host) private address get ``403`` with a body naming the host and the rule.
The proxy connects to the address it checked (no second lookup) and never forwards the client's
``Host`` (see :mod:`runtime.sandboxd.egress_wire`). Each decision is one JSON line on stderr.
A tunnel to a domain where the box's rule injects a credential is terminated and rewritten
(:mod:`runtime.sandboxd.egress_intercept`); every other tunnel stays blind.

Environment: ``EGRESS_POLICY_DIR`` (default ``/run/egress/policy``), ``EGRESS_BOXES_DIR`` (default
``/run/egress/boxes``), ``EGRESS_IDLE_EXIT_S`` (exit after this long without any box; default 300),
``EGRESS_MAX_CONNECTIONS`` (open connections per box; default 512).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

from runtime.sandboxd.egress_intercept import intercept
from runtime.sandboxd.egress_policy import (
    BoxRule,
    PolicyDir,
    address_problem,
    literal_address,
    matches,
    normalize_host,
)
from runtime.sandboxd.egress_wire import (
    TLS_RECORD_MAX,
    Denied,
    Request,
    client_hello_sni,
    forwarded_head,
    looks_like_http,
    looks_like_tls,
    parse_head,
    tls_record_length,
    tunnel_request,
)

SOCKET_NAME = "proxy.sock"
HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
SCAN_INTERVAL_S = 0.02
MAX_CONNECTIONS = 512
"""Open connections per box (``EGRESS_MAX_CONNECTIONS``)."""

_Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class EgressProxy:
    def __init__(self, policy_dir: Path, boxes_dir: Path, max_connections: int = MAX_CONNECTIONS) -> None:
        self.policy = PolicyDir(policy_dir)
        self.boxes_dir = boxes_dir
        self.max_connections = max_connections
        self._servers: dict[str, asyncio.Server] = {}
        self._open: dict[str, int] = {}

    # --- listeners, one per registered box ------------------------------------------------------

    async def sync(self) -> None:
        """Open a socket for each new rule, close the sockets of rules that went."""
        self.policy.scan()
        rules = self.policy.rules
        for box_id in [b for b in self._servers if b not in rules]:
            self._servers.pop(box_id).close()
            with contextlib.suppress(OSError):
                os.unlink(self.boxes_dir / box_id / SOCKET_NAME)
            _log({"event": "box removed", "sandbox_id": box_id})
        for box_id in rules:
            if box_id not in self._servers and (self.boxes_dir / box_id).is_dir():
                await self._listen(box_id)

    async def _listen(self, box_id: str) -> None:
        path = self.boxes_dir / box_id / SOCKET_NAME
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by an earlier proxy
        try:
            server = await asyncio.start_unix_server(
                functools.partial(self.handle, box_id), str(path), limit=HEAD_LIMIT, backlog=256
            )
            # The box's user (whichever uid) must be able to connect; only that box mounts the directory.
            path.chmod(0o666)
        except OSError as e:
            _log({"event": "cannot listen", "sandbox_id": box_id, "error": str(e)})
            return
        self._servers[box_id] = server
        _log({"event": "box registered", "sandbox_id": box_id})

    def close(self) -> None:
        for server in self._servers.values():
            server.close()

    @property
    def boxes(self) -> int:
        return len(self._servers)

    # --- one connection ---------------------------------------------------------------------------

    async def handle(self, box_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection of one box (at most ``max_connections`` at a time per box, so a box
        cannot starve the others sharing the proxy)."""
        self._open[box_id] = self._open.get(box_id, 0) + 1
        try:
            await self._handle(box_id, reader, writer)
        finally:
            self._open[box_id] -= 1

    async def _handle(self, box_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            writer.close()
            return
        # Read again now: a pooled box's rule is replaced when a run adopts it, just before it runs
        # (its own file, whatever the directory's mtime says).
        self.policy.scan()
        rule = self.policy.refresh(box_id)
        request: Request | None = None
        try:
            request = parse_head(head)
            if rule is None:
                raise Denied(403, f"sandbox {box_id} is not registered")
            if self._open[box_id] > self.max_connections:
                raise Denied(429, f"more than {self.max_connections} open connections from this sandbox")
            host, up_reader, upstream = await self._connect(request, rule)
        except Denied as e:
            _decision("deny", box_id, request, e.reason, started)
            await _refuse(reader, writer, e, request, rule)
            return
        _decision("allow", box_id, request, "", started)
        await self._relay(box_id, request, host, rule, (reader, writer), (up_reader, upstream))

    async def _connect(
        self, request: Request, rule: BoxRule
    ) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter]:
        """The checked host name (or canonical literal) and a connection to its checked address."""
        literal = literal_address(request.host)
        if literal is not None:
            if not rule.open:
                raise Denied(403, f"IP literal {request.host} refused: name a domain in the allowlist")
            problem = address_problem(literal, private_ok=False)
            if problem is not None:
                raise Denied(403, f"address {request.host} is {problem}")
            return literal, *await _open(literal, [literal], request.port)
        host = normalize_host(request.host)
        if host is None or not rule.allows(host):
            raise Denied(403, f"host {request.host} is not in this sandbox's allowlist")
        private_ok = matches(host, rule.private_hosts)
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
        return host, *await _open(host, addresses, request.port)

    async def _relay(
        self, box_id: str, request: Request, host: str, rule: BoxRule, client: _Stream, server: _Stream
    ) -> None:
        (reader, writer), (up_reader, upstream) = client, server
        back: asyncio.Future[None] | None = None
        try:
            if not request.tunnel:
                upstream.write(forwarded_head(request, host))
                await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
                return
            injections = rule.injections(host)
            if injections:  # a credential for this domain: TLS terminated here (egress_intercept)
                await intercept(self.policy.path, rule, host, request.port, injections, client, server)
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            back = asyncio.ensure_future(_pipe(up_reader, writer))  # server-speaks-first protocols
            if not rule.open:
                # An allowlist is about the host the server serves: check what the client names.
                upstream.write(await _first_tunnel_bytes(reader, host, request.port))
            await asyncio.gather(_pipe(reader, upstream), back)
        except Denied as e:
            _decision("deny", box_id, request, e.reason, time.monotonic())
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
            _decision("closed", box_id, request, f"{type(e).__name__}: {e}", time.monotonic())
        finally:
            if back is not None:
                back.cancel()
            for w in (upstream, writer):
                w.close()


async def _open(
    host: str, addresses: list[str], port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    last: OSError | None = None
    for address in addresses:
        try:
            return await asyncio.wait_for(asyncio.open_connection(address, port), CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as e:
            last = e if isinstance(e, OSError) else OSError(f"timed out after {CONNECT_TIMEOUT_S:g} s")
    raise Denied(502, f"could not connect to {host}:{port}: {last}")


async def _first_tunnel_bytes(reader: asyncio.StreamReader, host: str, port: int) -> bytes:
    """What the client sends first into a tunnel, checked: a TLS ClientHello must name the tunnel's
    host (or none), a plain HTTP request is rewritten to it; anything else passes as it is. A client
    silent for ``HEAD_TIMEOUT_S`` loses the tunnel (``TimeoutError``)."""
    data = await _read(reader)
    if looks_like_tls(data):
        while (need := tls_record_length(data)) is None or len(data) < need:
            if (need or 0) > TLS_RECORD_MAX or not (more := await _read(reader)):
                raise Denied(403, "incomplete TLS ClientHello")
            data += more
        sni = client_hello_sni(data)
        if sni is not None and normalize_host(sni) != host:
            raise Denied(403, f"TLS server name {sni[:100]!r} is not the tunnel's host {host}")
        return data
    if looks_like_http(data):
        while b"\r\n\r\n" not in data:
            if len(data) > HEAD_LIMIT or not (more := await _read(reader)):
                raise Denied(400, "incomplete HTTP request in the tunnel")
            data += more
        head, rest = data.split(b"\r\n\r\n", 1)
        return tunnel_request(head, host, port) + rest
    return data


async def _read(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(65536), HEAD_TIMEOUT_S)


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
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, denied: Denied, request: Request | None,
    rule: BoxRule | None,
) -> None:
    titles = {400: "Bad Request", 403: "Forbidden", 429: "Too Many Requests", 502: "Bad Gateway"}
    if rule is not None and rule.open:
        allowed = "any public host (open egress)"
    else:
        allowed = ", ".join(rule.domains) if rule is not None and rule.domains else "(none)"
    body = f"Hangar egress proxy: {denied.reason}.\nAllowed domains for this sandbox: {allowed}\n".encode()
    head = (
        f"HTTP/1.1 {denied.status} {titles.get(denied.status, 'Error')}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nX-Hangar-Egress: denied\r\nConnection: close\r\n\r\n"
    ).encode()
    with contextlib.suppress(OSError, TimeoutError):
        writer.write(head + (b"" if request is not None and request.method == "HEAD" else body))
        await writer.drain()
        writer.write_eof()
        # A request body may follow; closing on unread bytes would reset the connection, reply and all.
        await asyncio.wait_for(reader.read(65536), 0.5)
    writer.close()


def _decision(decision: str, box_id: str, request: Request | None, reason: str, started: float) -> None:
    record: dict[str, object] = {
        "event": "egress", "decision": decision, "sandbox_id": box_id,
        "method": request.method if request else None, "host": request.host if request else None,
        "port": request.port if request else None, "ms": round((time.monotonic() - started) * 1000, 1),
    }
    if reason:
        record["reason"] = reason
    _log(record)


def _log(record: dict[str, object]) -> None:
    print(json.dumps(record), file=sys.stderr, flush=True)


async def main() -> int:
    proxy = EgressProxy(
        Path(os.environ.get("EGRESS_POLICY_DIR", "/run/egress/policy")),
        Path(os.environ.get("EGRESS_BOXES_DIR", "/run/egress/boxes")),
        int(os.environ.get("EGRESS_MAX_CONNECTIONS", str(MAX_CONNECTIONS))),
    )
    idle_exit_s = float(os.environ.get("EGRESS_IDLE_EXIT_S", "300"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _log({"event": "egress proxy started"})
    try:
        await _serve(proxy, stop, idle_exit_s)
    finally:
        proxy.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


async def _serve(proxy: EgressProxy, stop: asyncio.Event, idle_exit_s: float) -> None:
    last_busy = time.monotonic()
    while not stop.is_set():
        await proxy.sync()
        now = time.monotonic()
        if proxy.boxes or proxy.policy.rules:
            last_busy = now
        elif now - last_busy > idle_exit_s:
            _log({"event": "no sandbox left; exiting"})
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SCAN_INTERVAL_S)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
