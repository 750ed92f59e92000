"""``network="allowlist"`` and ``"egress"``: boxes have no network; they reach only what their rule
allows, through the namespace's egress proxy, over a unix socket of their own.

Everything here stays on networks this module or its provider creates: a web server container on a
test network (aliases ``allowed.test`` and ``denied.test``) that the proxy joins. No name is ever
resolved outside Docker and no packet is aimed at an outside address.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime.sandbox.base import Sandbox, SandboxSpec
from runtime.sandbox.docker import DockerProvider, DockerProviderConfig, DockerSandbox
from runtime.sandbox.egress import PROXY_ID
from runtime.sandbox.reaper import list_owned

pytestmark = pytest.mark.docker


@dataclass(frozen=True)
class WebServer:
    network: str
    container_id: str
    ip: str


@pytest.fixture(scope="module")
def web_server(docker_client: Any, sandbox_image: str) -> Iterator[WebServer]:
    """``python3 -m http.server`` on a network of its own, as ``allowed.test`` and ``denied.test``."""
    api = docker_client.api
    network = f"hangar-test-web-{secrets.token_hex(4)}"
    api.create_network(network, driver="bridge", check_duplicate=True)
    container_id = ""
    try:
        endpoint = api.create_endpoint_config(aliases=["allowed.test", "denied.test"])
        container_id = api.create_container(
            sandbox_image, entrypoint=["python3", "-m", "http.server", "8000", "--directory", "/opt/hangar"],
            host_config=api.create_host_config(network_mode=network, read_only=True, cap_drop=["ALL"]),
            networking_config=api.create_networking_config({network: endpoint}),
        )["Id"]
        api.start(container_id)
        deadline = time.monotonic() + 15
        while b"Serving HTTP" not in api.logs(container_id):
            assert time.monotonic() < deadline, api.logs(container_id)
            time.sleep(0.02)
        ip = api.inspect_container(container_id)["NetworkSettings"]["Networks"][network]["IPAddress"]
        yield WebServer(network, container_id, ip)
    finally:
        if container_id:
            api.remove_container(container_id, force=True)
        api.remove_network(network)


@pytest.fixture(scope="module")
async def egress_provider(
    sandbox_image: str, namespace: str, state_dir: Path, docker_client: Any, web_server: WebServer
) -> AsyncIterator[DockerProvider]:
    """A provider of its own: its operator lets ``allowed.test`` resolve to a private address.
    (Set up after the web server, so it is stopped, and the proxy gone, before that network goes.)"""
    ns = f"{namespace}-egress"
    config = DockerProviderConfig(
        state_dir=state_dir, namespace=ns, watchdog_interval_s=None, reap_interval_s=None,
        egress_private_hosts=("allowed.test",),
    )
    async with DockerProvider(config) as p:
        yield p
    # Stopping the provider removed the proxy, its network and its state directory.
    assert not list_owned(docker_client, ns, p.sockets_dir)
    assert not docker_client.api.networks(names=[p.egress.network])


@pytest.fixture(scope="module")
async def allow_box(
    egress_provider: DockerProvider, web_server: WebServer, docker_client: Any, spec: SandboxSpec
) -> AsyncIterator[DockerSandbox]:
    changes = {"network": "allowlist", "allowed_domains": ["Allowed.test"]}  # normalized on validation
    spec = SandboxSpec.model_validate(spec.model_dump() | changes)
    async with await egress_provider.create(spec) as box:
        # The test server's network joins the proxy (as the outside world would be, behind the bridge).
        proxy = f"hangar-egress-proxy-{egress_provider.config.namespace}"
        docker_client.api.connect_container_to_network(proxy, web_server.network)
        yield box


async def sh(box: Sandbox, command: str) -> tuple[int, str]:
    result = await box.client.exec(["bash", "-c", command], timeout_s=20)
    return result.exit_code, result.stdout + result.stderr


async def test_allowed_domain_is_reachable_through_the_proxy(allow_box: DockerSandbox) -> None:
    code, out = await sh(allow_box, "curl -sS --max-time 5 http://allowed.test:8000/")
    assert code == 0 and "runtime/" in out, out
    # CONNECT (what TLS uses) to an allowed host opens a tunnel too.
    code, out = await sh(allow_box, "curl -sS --max-time 5 --proxytunnel http://allowed.test:8000/")
    assert code == 0 and "runtime/" in out, out
    # Python's stdlib honours the proxy variables as well.
    fetch = "import urllib.request as u; print(u.urlopen('http://allowed.test:8000/', timeout=5).status)"
    assert await sh(allow_box, f'python3 -c "{fetch}"') == (0, "200\n")


async def test_other_domain_gets_403_naming_host_and_allowlist(allow_box: DockerSandbox) -> None:
    code, out = await sh(allow_box, "curl -sS --max-time 5 -w '\\n%{http_code}' http://denied.test:8000/")
    assert code == 0 and out.endswith("\n403"), out
    assert "host denied.test is not in this sandbox's allowlist" in out
    assert "Allowed domains for this sandbox: allowed.test" in out
    code, out = await sh(allow_box, "curl -sS --max-time 5 --proxytunnel http://denied.test:8000/")
    assert code != 0 and "403" in out, out


async def test_ip_literal_is_refused_by_the_proxy(allow_box: DockerSandbox, web_server: WebServer) -> None:
    url = f"http://{web_server.ip}:8000/"
    code, out = await sh(allow_box, f"curl -sS --max-time 5 -w '\\n%{{http_code}}' {url}")
    assert code == 0 and out.endswith("\n403") and f"IP literal {web_server.ip} refused" in out, out


async def test_bypassing_the_proxy_goes_nowhere(
    allow_box: DockerSandbox, web_server: WebServer, egress_provider: DockerProvider, docker_client: Any
) -> None:
    # The box has no interface but loopback: the server (on a test network) is out of reach.
    code, out = await sh(allow_box, f"curl -sS --connect-timeout 1 --noproxy '*' http://{web_server.ip}:8000/")
    assert code != 0, out
    assert await sh(allow_box, "ls /sys/class/net") == (0, "lo\n")
    networks = docker_client.api.inspect_container(allow_box.container_id)["NetworkSettings"]["Networks"]
    assert list(networks) == ["none"]
    # The proxy is alone on its namespace's network (plus the test network this module attached).
    proxy = docker_client.api.inspect_network(egress_provider.egress.network)
    assert [c["Name"] for c in proxy["Containers"].values()] == [egress_provider.egress.container_name]
    assert (await sh(allow_box, "echo $HTTPS_PROXY $NO_PROXY"))[1] == (
        "http://127.0.0.1:3128 localhost,127.0.0.1,::1\n"
    )
    # The box sees its own proxy socket, read-only.
    code, out = await sh(allow_box, "ls /run/egress; touch /run/egress/x")
    assert code != 0 and out.startswith("proxy.sock\n") and "Read-only file system" in out, out


async def test_private_address_needs_the_operator(
    egress_provider: DockerProvider, allow_box: DockerSandbox, make_spec: Callable[..., SandboxSpec]
) -> None:
    """A second box with its own allowlist: ``denied.test`` is allowed to it, but resolves to a private
    address the operator did not allow (the SSRF guard); its rules don't leak to the first box."""
    spec = make_spec(network="allowlist", allowed_domains=("denied.test",))
    async with await egress_provider.create(spec) as other:
        code, out = await sh(other, "curl -sS --max-time 5 http://denied.test:8000/")
        assert code == 0 and "host denied.test resolves to" in out and "is a private address" in out, out
        code, out = await sh(other, "curl -sS --max-time 5 -w '\\n%{http_code}' http://allowed.test:8000/")
        assert out.endswith("\n403"), out
    assert (await sh(allow_box, "curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "
                                "http://denied.test:8000/"))[1] == "403"


async def test_proxy_is_tracked_and_listed_apart(
    egress_provider: DockerProvider, allow_box: DockerSandbox
) -> None:
    assert PROXY_ID in egress_provider.tracked()
    assert {info.id for info in await egress_provider.list()} == {allow_box.id}
    assert not await egress_provider.reaper.reap_once()


async def test_open_egress_goes_through_the_proxy_too(
    egress_provider: DockerProvider, allow_box: DockerSandbox, make_spec: Callable[..., SandboxSpec]
) -> None:
    """``network="egress"``: any host, but still no interface and still the address checks."""
    async with await egress_provider.create(make_spec(network="egress")) as box:
        assert await sh(box, "ls /sys/class/net") == (0, "lo\n")
        code, out = await sh(box, "curl -sS --max-time 5 http://allowed.test:8000/")
        assert code == 0 and "runtime/" in out, out  # the operator allows allowed.test's private address
        code, out = await sh(box, "curl -sS --max-time 5 http://denied.test:8000/")
        assert "host denied.test resolves to" in out and "is a private address" in out, out
        assert "any public host (open egress)" in out


async def test_the_browser_goes_through_the_proxy(allow_box: DockerSandbox) -> None:
    from runtime.sandboxd.protocol import Navigate, PageContent

    page = await allow_box.client.browser(Navigate(url="http://allowed.test:8000/"))
    assert page.status == 200
    text = await allow_box.client.browser(PageContent())
    assert "runtime/" in (text.content or "")
    denied = await allow_box.client.browser(Navigate(url="http://denied.test:8000/"))
    assert denied.status == 403  # the proxy's refusal page, not the server's listing
    text = await allow_box.client.browser(PageContent())
    assert "not in this sandbox's allowlist" in (text.content or "")


async def test_a_killed_proxy_is_started_again_and_serves_every_box(
    egress_provider: DockerProvider, allow_box: DockerSandbox, make_spec: Callable[..., SandboxSpec],
    docker_client: Any, web_server: WebServer,
) -> None:
    name = egress_provider.egress.container_name
    docker_client.api.kill(name)
    spec = make_spec(network="allowlist", allowed_domains=("allowed.test",))
    async with await egress_provider.create(spec) as other:
        docker_client.api.connect_container_to_network(name, web_server.network)
        code, out = await sh(other, "curl -sS --max-time 5 http://allowed.test:8000/")
        assert code == 0 and "runtime/" in out, out
        # The new proxy re-opened the first box's socket from its rule file.
        code, out = await sh(allow_box, "curl -sS --max-time 5 http://allowed.test:8000/")
        assert code == 0 and "runtime/" in out, out


async def test_an_orphan_box_loses_its_egress_rule_and_socket_directory(
    egress_provider: DockerProvider, allow_box: DockerSandbox, docker_client: Any
) -> None:
    egress = egress_provider.egress
    (egress.boxes_dir / "0rphan0rphan").mkdir()
    (egress.policy_dir / "0rphan0rphan.json").write_text("{}")
    reaped = await egress_provider.reaper.reap_once()
    assert set(reaped.egress_entries.values()) == {"0rphan0rphan"}
    assert not (egress.boxes_dir / "0rphan0rphan").exists()
    assert (egress.boxes_dir / allow_box.id / "proxy.sock").exists()
    assert (egress.policy_dir / f"{allow_box.id}.json").exists()
