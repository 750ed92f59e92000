"""TLS termination for the domains where the egress proxy injects a credential. Stdlib only.

For a ``CONNECT`` to such a domain the proxy answers ``200``, completes the TLS handshake itself
with the namespace CA's leaf certificate for that domain (the box trusts that CA; a ClientHello
naming another server is refused), opens TLS to the upstream and *verifies* its certificate (system
CAs, plus the operator's extra CA), then forwards exactly one HTTP/1.1 request: the box's
placeholders replaced where the credential allows it (header, query, body), the credential's and the
rule's headers set, ``Host`` set to the checked host, ``Connection: close``. The reply is relayed as
it is. Secrets are never logged. Every other domain stays a blind tunnel (see the proxy).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

from runtime.sandboxd.egress_policy import BoxRule, Injection, normalize_host
from runtime.sandboxd.egress_wire import HOP_HEADERS, Denied

HANDSHAKE_S = 15.0
HEAD_TIMEOUT_S = 30.0
BODY_SUBSTITUTE_MAX = 8 * 1024 * 1024
"""Bodies up to this size are read whole (to replace placeholders in them); larger ones stream."""
_Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def server_context(cert: Path, host: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert)
    context.set_alpn_protocols(["http/1.1"])

    def check_name(_sock: object, name: str | None, _ctx: object) -> int | None:
        if name is not None and normalize_host(name) != host:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME  # domain fronting: refuse
        return None

    context.sni_callback = check_name
    return context


def client_context(policy_dir: Path, rule: BoxRule) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if rule.upstream_ca:
        context.load_verify_locations(policy_dir / rule.upstream_ca)
    context.set_alpn_protocols(["http/1.1"])
    return context


def certificate_for(host: str, injections: list[Injection]) -> str:
    exact = [i for i in injections if i.domain == host]
    return (exact or injections)[0].cert


async def intercept(
    policy_dir: Path, rule: BoxRule, host: str, port: int, injections: list[Injection],
    client: _Stream, upstream: _Stream,
) -> None:
    """Serve one intercepted tunnel (the ``200`` is sent here). Raises ``Denied`` (logged by the
    caller; the box sees its TLS connection closed), ``OSError``, ``TimeoutError``."""
    reader, writer = client
    up_reader, up_writer = upstream
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await writer.drain()
    cert = policy_dir / certificate_for(host, injections)
    try:
        await writer.start_tls(server_context(cert, host), ssl_handshake_timeout=HANDSHAKE_S)
    except (ssl.SSLError, ConnectionError) as e:
        raise Denied(403, f"TLS handshake with the sandbox failed: {e}") from None
    try:
        await up_writer.start_tls(
            client_context(policy_dir, rule), server_hostname=host, ssl_handshake_timeout=HANDSHAKE_S
        )
    except ssl.SSLCertVerificationError as e:
        await _bad_gateway(writer, f"the certificate of {host} could not be verified: {e.verify_message}")
        raise Denied(502, f"upstream certificate of {host} not verified: {e.verify_message}") from None
    except (ssl.SSLError, ConnectionError) as e:
        await _bad_gateway(writer, f"TLS to {host} failed")
        raise Denied(502, f"TLS to {host} failed: {e}") from None
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
    method, target, version, headers = parse_request(head)
    substitutions = [(p, v, locs) for i in injections for p, v, locs in i.substitute]
    target = substitute_text(target, substitutions, "query")
    headers = rewrite_headers(headers, injections, substitutions)
    length, chunked = body_framing(headers)
    body = b""
    if length is not None and length <= BODY_SUBSTITUTE_MAX:
        body = substitute_bytes(await reader.readexactly(length), substitutions, "body") if length else b""
        headers = [h for h in headers if h[0].lower() != b"content-length"]
        headers.append((b"Content-Length", str(len(body)).encode()))
    authority = host if port == 443 else f"{host}:{port}"
    lines = [f"{method} {target} {version}".encode(), b"Host: " + authority.encode(),
             *(n + b": " + v for n, v in headers), b"Connection: close"]
    up_writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    if length is not None and length > BODY_SUBSTITUTE_MAX:
        await _copy(reader, up_writer, length)
    elif chunked:
        await _copy_chunked(reader, up_writer)
    await up_writer.drain()
    await _relay_reply(up_reader, writer)


def parse_request(head: bytes) -> tuple[str, str, str, list[tuple[bytes, bytes]]]:
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    try:
        method, target, version = lines[0].decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise Denied(400, "malformed request line in the TLS tunnel") from None
    if target.startswith("https://"):
        rest = target[len("https://"):]
        target = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    if not target.startswith("/"):
        raise Denied(400, "request target must be a path")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise Denied(400, "malformed header in the TLS tunnel")
        headers.append((name, value.strip()))
    return method, target, version, headers


def rewrite_headers(
    headers: list[tuple[bytes, bytes]], injections: list[Injection],
    substitutions: list[tuple[str, str, tuple[str, ...]]],
) -> list[tuple[bytes, bytes]]:
    """The box's headers without hop-by-hop ones, the injected ones set (replacing the box's), and
    placeholders replaced where the credential allows it in headers."""
    setting = [(n.encode(), v.encode()) for i in injections for n, v in i.headers]
    names = {n.lower() for n, _ in setting}
    kept = [(n, v) for n, v in headers if n.lower() not in HOP_HEADERS and n.lower() not in names]
    return [(n, substitute_bytes(v, substitutions, "header")) for n, v in [*kept, *setting]]


def substitute_text(value: str, substitutions: list[tuple[str, str, tuple[str, ...]]], where: str) -> str:
    for placeholder, secret, locations in substitutions:
        if where in locations:
            value = value.replace(placeholder, secret)
    return value


Substitutions = list[tuple[str, str, tuple[str, ...]]]


def substitute_bytes(value: bytes, substitutions: Substitutions, where: str) -> bytes:
    for placeholder, secret, locations in substitutions:
        if where in locations:
            value = value.replace(placeholder.encode(), secret.encode())
    return value


def body_framing(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """``(Content-Length, chunked)`` of a request; raises ``Denied`` for ambiguous framing."""
    lengths = {v for n, v in headers if n.lower() == b"content-length"}
    chunked = any(n.lower() == b"transfer-encoding" and b"chunked" in v.lower() for n, v in headers)
    if (chunked and lengths) or len(lengths) > 1:
        raise Denied(400, "ambiguous request body framing")
    if not lengths:
        return None, chunked
    value = lengths.pop()
    if not value.isdigit():
        raise Denied(400, "invalid Content-Length")
    return int(value), False


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int) -> None:
    while length > 0:
        data = await asyncio.wait_for(reader.read(min(length, 65536)), HEAD_TIMEOUT_S)
        if not data:
            raise Denied(400, "request body ended early")
        writer.write(data)
        await writer.drain()
        length -= len(data)


async def _copy_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Forward a chunked body up to its last chunk and trailers, and not a byte further (what
    follows would be a second request, which must not pass unchecked)."""
    while True:
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), HEAD_TIMEOUT_S)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise Denied(400, "malformed chunk size") from None
        writer.write(line)
        if size == 0:
            while (trailer := await asyncio.wait_for(reader.readuntil(b"\r\n"), HEAD_TIMEOUT_S)) != b"\r\n":
                writer.write(trailer)
            writer.write(b"\r\n")
            return
        await _copy(reader, writer, size + 2)


async def _relay_reply(up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await up_reader.read(65536):
        writer.write(data)
        await writer.drain()


async def _bad_gateway(writer: asyncio.StreamWriter, reason: str) -> None:
    body = f"Hangar egress proxy: {reason}.\n".encode()
    writer.write(
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nX-Hangar-Egress: denied\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    )
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.drain(), 5)
