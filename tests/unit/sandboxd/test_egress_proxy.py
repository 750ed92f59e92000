"""The egress proxy in-process: its request parsing, the Host and SNI rules against domain fronting,
and one unix socket per registered box (no packet leaves the machine: every request here is refused
before any connection, or parsed only)."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

import pytest

from runtime.sandboxd.egress_policy import BoxRule, write_rule
from runtime.sandboxd.egress_proxy import SOCKET_NAME, EgressProxy
from runtime.sandboxd.egress_wire import (
    Denied,
    client_hello_sni,
    forwarded_head,
    looks_like_http,
    parse_head,
    tunnel_request,
)


def test_parse_requests() -> None:
    connect = parse_head(b"CONNECT pypi.org:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n")
    assert (connect.method, connect.host, connect.port, connect.tunnel) == ("CONNECT", "pypi.org", 443, True)
    get = parse_head(b"GET http://a.example/x?y=1 HTTP/1.1\r\nHost: a.example\r\nProxy-Connection: keep-alive"
                     b"\r\nProxy-Authorization: x\r\nAccept: */*\r\n\r\n")
    assert (get.host, get.port, get.path) == ("a.example", 80, "/x?y=1")
    assert forwarded_head(get, "a.example") == (
        b"GET /x?y=1 HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    for bad in (b"GET /x HTTP/1.1\r\n\r\n", b"CONNECT pypi.org HTTP/1.1\r\n\r\n", b"nonsense\r\n\r\n",
                b"GET https://a.example/ HTTP/1.1\r\n\r\n"):
        with pytest.raises(Denied) as e:
            parse_head(bad)
        assert e.value.status == 400


def test_the_client_host_header_never_reaches_upstream() -> None:
    fronted = parse_head(b"GET http://allowed.example:8000/ HTTP/1.1\r\nHOST: forbidden.example\r\n"
                         b"host: forbidden2.example\r\n\r\n")
    head = forwarded_head(fronted, "allowed.example")
    assert head.lower().count(b"host:") == 1 and b"Host: allowed.example:8000\r\n" in head
    assert b"forbidden" not in head
    # Inside a tunnel: the Host header and an absolute-form target are both replaced.
    inner = b"GET http://forbidden.example/a?b HTTP/1.1\r\nHost: forbidden.example\r\nX: 1"
    assert looks_like_http(inner)
    assert tunnel_request(inner, "allowed.example", 80) == (
        b"GET /a?b HTTP/1.1\r\nHost: allowed.example\r\nX: 1\r\nConnection: close\r\n\r\n"
    )


def _client_hello(server_name: str | None) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_client_hello_server_name() -> None:
    assert client_hello_sni(_client_hello("allowed.example")) == "allowed.example"
    assert client_hello_sni(_client_hello(None)) is None
    with pytest.raises(Denied, match="malformed TLS ClientHello"):
        client_hello_sni(_client_hello("allowed.example")[:60])


async def _ask(path: Path, head: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(head)
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return reply


async def test_one_socket_per_registered_box_and_refusals(tmp_path: Path) -> None:
    policy, boxes = tmp_path / "policy", tmp_path / "boxes"
    policy.mkdir()
    (boxes / "box1").mkdir(parents=True)
    (boxes / "box2").mkdir()
    proxy = EgressProxy(policy, boxes)
    write_rule(policy, BoxRule("box1", ("allowed.example",)))
    write_rule(policy, BoxRule("box2", open=True))
    await proxy.sync()
    sock1, sock2 = boxes / "box1" / SOCKET_NAME, boxes / "box2" / SOCKET_NAME
    assert sock1.is_socket() and sock2.is_socket() and proxy.boxes == 2
    try:
        reply = await _ask(sock1, b"GET http://other.example/ HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 403") and b"not in this sandbox's allowlist" in reply
        assert b"Allowed domains for this sandbox: allowed.example" in reply
        reply = await _ask(sock1, b"CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n")
        assert b"IP literal 10.0.0.1 refused" in reply
        # An open box may name any host, but no literal spelling of a loopback or link-local address.
        for literal in ("127.1", "0x7f000001", "[::ffff:7f00:1]", "169.254.169.254", "[2002:a9fe:a9fe::]"):
            reply = await _ask(sock2, f"CONNECT {literal}:80 HTTP/1.1\r\n\r\n".encode())
            assert reply.startswith(b"HTTP/1.1 403"), (literal, reply)
        (policy / "box1.json").unlink()
        await proxy.sync()
        assert not sock1.exists() and sock2.exists() and proxy.boxes == 1
    finally:
        proxy.close()


async def test_one_box_cannot_hold_every_connection(tmp_path: Path) -> None:
    policy, boxes = tmp_path / "policy", tmp_path / "boxes"
    policy.mkdir()
    (boxes / "box1").mkdir(parents=True)
    proxy = EgressProxy(policy, boxes, max_connections=1)
    write_rule(policy, BoxRule("box1", ("allowed.example",)))
    await proxy.sync()
    sock = boxes / "box1" / SOCKET_NAME
    try:
        _, holder = await asyncio.open_unix_connection(str(sock))  # sends nothing: holds its slot
        await asyncio.sleep(0.05)
        reply = await _ask(sock, b"GET http://allowed.example/ HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 429") and b"more than 1 open connections" in reply
        holder.close()
    finally:
        proxy.close()


async def test_the_proxy_exits_once_it_has_had_no_box_for_a_while(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime.sandboxd import egress_proxy

    (tmp_path / "policy").mkdir()
    (tmp_path / "boxes").mkdir()
    monkeypatch.setenv("EGRESS_POLICY_DIR", str(tmp_path / "policy"))
    monkeypatch.setenv("EGRESS_BOXES_DIR", str(tmp_path / "boxes"))
    monkeypatch.setenv("EGRESS_IDLE_EXIT_S", "0.1")
    assert await asyncio.wait_for(egress_proxy.main(), 5) == 0


async def test_an_adopted_boxs_rule_applies_though_the_directorys_mtime_did_not_change(
    tmp_path: Path,
) -> None:
    """The rule of a pooled box is replaced when a run adopts it; on a kernel with coarse
    timestamps the directory can keep its mtime. The next connection still gets the new rule."""
    policy, boxes = tmp_path / "policy", tmp_path / "boxes"
    policy.mkdir()
    (boxes / "box1").mkdir(parents=True)
    proxy = EgressProxy(policy, boxes)
    write_rule(policy, BoxRule("box1"))  # pooled: no domain at all
    await proxy.sync()
    sock = boxes / "box1" / SOCKET_NAME
    try:
        before = policy.stat()
        write_rule(policy, BoxRule("box1", ("allowed.example",)))  # adopted
        os.utime(policy, ns=(before.st_atime_ns, before.st_mtime_ns))  # within the same tick
        reply = await _ask(sock, b"GET http://other.example/ HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 403")
        assert b"Allowed domains for this sandbox: allowed.example" in reply, reply
    finally:
        proxy.close()
