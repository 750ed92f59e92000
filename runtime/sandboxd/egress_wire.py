"""What the egress proxy reads from a box: the proxy request head, and the first bytes a client
sends into a ``CONNECT`` tunnel (a TLS ClientHello, or a plain HTTP request). Stdlib only.

The proxy never lets the client choose what the upstream server sees as the host: a plain request
(absolute-URI, or inside a tunnel) goes out with ``Host`` set to the checked target and an
origin-form target, and a TLS ClientHello whose server name (SNI) differs from the ``CONNECT`` host
closes the tunnel (domain fronting).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

HOP_HEADERS = {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization", b"te",
               b"trailer", b"upgrade", b"host"}
"""Dropped from forwarded requests (``Host`` too: the proxy sets it to the checked host)."""
_HTTP_START = re.compile(rb"^[A-Z]{3,10} ")
TLS_RECORD_MAX = 5 + 16384 + 2048


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
        path = _origin_path(url.path, url.query)
    else:
        raise Denied(400, f"not a proxy request: {target[:100]!r} (use CONNECT, or an http:// URL)")
    try:
        port = url.port or default_port
    except ValueError:
        port = None
    if not url.hostname or port is None:
        raise Denied(400, f"no host and port in {target[:100]!r}")
    return Request(method, url.hostname, port, path, version, headers)


def _origin_path(path: str, query: str) -> str:
    return (path or "/") + (f"?{query}" if query else "")


def origin_head(method: str, path: str, version: str, headers: list[bytes], host: str, port: int) -> bytes:
    """The request as the origin server gets it: origin-form target, ``Host`` = the checked host,
    no hop-by-hop headers, ``Connection: close`` (so a kept-alive connection cannot carry a second,
    unchecked request)."""
    kept = [h for h in headers if h.split(b":", 1)[0].strip().lower() not in HOP_HEADERS]
    authority = host if port == 80 else f"{host}:{port}"
    lines = [f"{method} {path} {version}".encode(), f"Host: {authority}".encode(), *kept,
             b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def forwarded_head(request: Request, host: str) -> bytes:
    return origin_head(request.method, request.path, request.version, request.headers, host, request.port)


def looks_like_tls(data: bytes) -> bool:
    return len(data) >= 1 and data[0] == 0x16


def tls_record_length(data: bytes) -> int | None:
    """Bytes of the first TLS record (header included), once its header is there."""
    return 5 + int.from_bytes(data[3:5], "big") if len(data) >= 5 else None


def looks_like_http(data: bytes) -> bool:
    return bool(_HTTP_START.match(data))


def client_hello_sni(record: bytes) -> str | None:
    """The server name of a ClientHello in one TLS record; ``None`` when it names none. Raises
    ``Denied`` for a record that is not a whole, well-formed ClientHello."""
    try:
        return _sni(record)
    except (IndexError, ValueError, UnicodeDecodeError):
        raise Denied(403, "malformed TLS ClientHello") from None


def _sni(record: bytes) -> str | None:
    if record[0] != 0x16 or record[5] != 0x01:
        raise ValueError("not a ClientHello")
    body_len = int.from_bytes(record[6:9], "big")
    if 9 + body_len > len(record):
        raise ValueError("ClientHello spans several records")
    pos = 9 + 2 + 32  # version, random
    pos += 1 + record[pos]  # session id
    pos += 2 + int.from_bytes(record[pos:pos + 2], "big")  # cipher suites
    pos += 1 + record[pos]  # compression methods
    if pos >= 9 + body_len:
        return None
    end = pos + 2 + int.from_bytes(record[pos:pos + 2], "big")
    pos += 2
    while pos + 4 <= end:
        kind = int.from_bytes(record[pos:pos + 2], "big")
        size = int.from_bytes(record[pos + 2:pos + 4], "big")
        if kind == 0:  # server_name: list length, then (type 0, length, name)
            name_len = int.from_bytes(record[pos + 7:pos + 9], "big")
            return record[pos + 9:pos + 9 + name_len].decode("ascii")
        pos += 4 + size
    return None


def tunnel_request(head: bytes, host: str, port: int) -> bytes:
    """A plain HTTP request head sent into a tunnel, rewritten like a forwarded one."""
    lines = head.split(b"\r\n")
    try:
        method, target, version = lines[0].decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise Denied(400, "malformed request line in the tunnel") from None
    if target.startswith(("http://", "https://")):
        url = urlsplit(target)
        target = _origin_path(url.path, url.query)
    return origin_head(method, target, version, [h for h in lines[1:] if h], host, port)
