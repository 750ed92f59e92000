"""Attacks on the egress proxy from inside real boxes: metadata and private addresses in every
spelling, names that resolve to private test containers, domain fronting, and the proxy's own
policy mount. Upstream is only this folder's test container; refused requests are refused before
the proxy connects anywhere."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from network_harness import EchoServer, attach_proxy, sh

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.docker import DockerProvider, DockerSandbox

pytestmark = pytest.mark.docker

METADATA_SPELLINGS = [
    "169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518", "169.16689662",
    "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]", "[::169.254.169.254]", "[::ffff:0:a9fe:a9fe]",
    "[2002:a9fe:a9fe::1]", "[64:ff9b::a9fe:a9fe]", "[64:ff9b:1::a9fe:a9fe]",
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "[fe80::1]", "127.0.0.1", "127.1", "0", "[::1]", "[::]", "[::ffff:127.0.0.1]", "[2002:7f00:1::]",
]


@pytest.fixture(scope="module")
async def boxes(
    ns_a: DockerProvider, net_spec: SandboxSpec, docker_client: Any, echo: EchoServer
) -> AsyncIterator[tuple[DockerSandbox, DockerSandbox]]:
    """An allowlist box (``allowed.test``) and an open-egress box, both of namespace A."""
    allow = net_spec.model_copy(update={"network": "allowlist", "allowed_domains": ("allowed.test",)})
    async with await ns_a.create(allow) as listed, await ns_a.create(
        net_spec.model_copy(update={"network": "egress"})
    ) as open_box:
        attach_proxy(docker_client, ns_a.egress.container_name, echo.network)
        yield listed, open_box


def _private_spellings(ip: str) -> list[str]:
    a, b, c, d = (int(x) for x in ip.split("."))
    return [ip, f"[::ffff:{ip}]", f"[::{ip}]", f"[2002:{a:02x}{b:02x}:{c:02x}{d:02x}::]",
            f"[64:ff9b::{ip}]", str((a << 24) + (b << 16) + (c << 8) + d)]


async def test_metadata_and_loopback_are_refused_in_every_spelling(
    boxes: tuple[DockerSandbox, DockerSandbox],
) -> None:
    for box in boxes:
        code, out = await sh(box, "curl -sS --connect-timeout 2 --noproxy '*' http://169.254.169.254/")
        assert code != 0, out  # no interface: nothing left the box
        for host in METADATA_SPELLINGS:
            for flags in ("", "--proxytunnel"):
                # --noproxy '': loopback names too go to the proxy (NO_PROXY would keep them in the box).
                curl = f"curl -sS -g --noproxy '' --max-time 5 {flags} -w '\\n%{{http_code}}'"
                _, out = await sh(box, f"{curl} http://{host}:80/latest/meta-data/")
                assert "Hangar egress proxy" in out or "403" in out, (host, flags, out)
                assert "refused" in out or "403" in out, (host, flags, out)


async def test_private_test_container_is_refused_by_address_and_by_name(
    boxes: tuple[DockerSandbox, DockerSandbox], echo: EchoServer, docker_client: Any
) -> None:
    before = echo.log(docker_client).count("REQ ")
    listed, open_box = boxes
    for box in boxes:
        for host in _private_spellings(echo.ip):
            _, out = await sh(box, f"curl -sS -g --max-time 5 http://{host}:8000/")
            assert "Hangar egress proxy" in out and "host=" not in out, (host, out)
    # Names Docker resolves to the test container's private address, outside the operator's list.
    for name in ("denied.test", echo.name):
        _, out = await sh(open_box, f"curl -sS --max-time 5 http://{name}:8000/")
        assert f"host {name} resolves to" in out and "is a private address" in out, out
        _, out = await sh(listed, f"curl -sS --max-time 5 http://{name}:8000/")
        assert f"host {name} is not in this sandbox's allowlist" in out, out
    assert echo.log(docker_client).count("REQ ") == before


async def test_domain_fronting_upstream_sees_the_checked_host(
    boxes: tuple[DockerSandbox, DockerSandbox], echo: EchoServer, docker_client: Any
) -> None:
    listed, _ = boxes
    fronted = [
        "-H 'Host: denied.test'",  # absolute-URI request
        "--proxytunnel -H 'Host: denied.test'",  # plain HTTP inside a CONNECT tunnel
        "--proxytunnel --proxy-header 'Host: denied.test:8000' -H 'Host: denied.test'",
        "--request-target http://denied.test/ --proxytunnel",  # absolute-form inside the tunnel
    ]
    for flags in fronted:
        code, out = await sh(listed, f"curl -sS --max-time 5 {flags} http://allowed.test:8000/")
        assert code == 0 and out == "host=allowed.test:8000\n", (flags, out)
    assert "host=denied.test" not in echo.log(docker_client)


TLS_PROBE = r'''
import json, socket, ssl, sys
def attempt(server_name):
    s = socket.create_connection(("127.0.0.1", 3128), timeout=5)
    s.sendall(b"CONNECT allowed.test:8000 HTTP/1.1\r\nHost: allowed.test:8000\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200"), "no tunnel"
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.wrap_socket(s, server_hostname=server_name).close()
        return "handshake ok"
    except (ssl.SSLError, OSError) as e:
        return type(e).__name__
print(json.dumps([attempt("denied.test"), attempt("allowed.test")]))
'''


async def test_tls_server_name_must_be_the_tunnel_host(
    boxes: tuple[DockerSandbox, DockerSandbox], echo: EchoServer, docker_client: Any
) -> None:
    listed, _ = boxes
    before = echo.log(docker_client).count("RAW 16")
    result = await listed.client.exec(["python3", "-c", TLS_PROBE], timeout_s=30)
    assert result.exit_code == 0, result.stderr
    fronted, matching = json.loads(result.stdout)
    assert fronted != "handshake ok" and matching != "handshake ok"  # the test server speaks no TLS
    # Only the ClientHello naming the tunnel's host reached the server.
    assert echo.log(docker_client).count("RAW 16") == before + 1


async def test_the_proxy_cannot_write_its_policy_or_swap_box_directories(
    boxes: tuple[DockerSandbox, DockerSandbox], ns_a: DockerProvider, docker_client: Any
) -> None:
    listed, _ = boxes
    proxy = docker_client.containers.get(ns_a.egress.container_name)
    script = (
        "import os, sys\n"
        f"box = {listed.id!r}\n"
        "attempts = {\n"
        " 'new': lambda: open('/run/egress/policy/evil.json', 'w'),\n"
        " 'edit': lambda: open(f'/run/egress/policy/{box}.json', 'a'),\n"
        " 'remove': lambda: os.unlink(f'/run/egress/policy/{box}.json'),\n"
        " 'swap': lambda: os.rename(f'/run/egress/boxes/{box}', '/run/egress/boxes/x'),\n"
        " 'link': lambda: os.symlink('/', '/run/egress/boxes/evil'),\n"
        "}\n"
        "for name, attempt in attempts.items():\n"
        "    try:\n"
        "        attempt(); print(name, 'WROTE')\n"
        "    except OSError as e:\n"
        "        print(name, e.strerror)\n"
        "print('uid', os.getuid())\n"
    )
    code, out = proxy.exec_run(["/opt/venv/bin/python", "-c", script])
    text = out.decode()
    assert code == 0 and "WROTE" not in text, text
    for name in ("new", "remove"):
        assert f"{name} Read-only file system" in text, text
    assert "edit Permission denied" in text or "edit Read-only file system" in text, text
    assert "swap Permission denied" in text and "link Permission denied" in text, text
    assert "uid 65534" in text
    info = docker_client.api.inspect_container(proxy.id)
    modes = {m["Destination"]: m["RW"] for m in info["Mounts"]}
    assert modes == {"/run/egress/policy": False, "/run/egress/boxes": True}
