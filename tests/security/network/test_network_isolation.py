"""From inside real boxes: no other box, no host service, no other namespace is reachable.

Boxes have only loopback, so direct attempts fail before any packet leaves; attempts through the
proxy are refused by its checks (the host listener counts every connection it gets: none). The
attackers are cold boxes, then boxes taken from a warm pool and adopted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from network_harness import EchoServer, HostListener, attach_proxy, network_gateway, sh

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.docker import DockerProvider, DockerSandbox
from runtime.sandbox.pooled import PooledProvider, WarmConfig, pool_shape

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
async def listening_box(ns_a: DockerProvider, net_spec: SandboxSpec) -> AsyncIterator[DockerSandbox]:
    """A box of namespace A with a web server on port 8099 (what a victim box would run)."""
    spec = net_spec.model_copy(update={"network": "egress"})
    async with await ns_a.create(spec) as box:
        await sh(box, "setsid nohup python3 -m http.server 8099 --bind 0.0.0.0 >/dev/null 2>&1 &")
        code, out = await sh(box, "for i in $(seq 50); do curl -s -o /dev/null --noproxy '*' "
                                  "http://127.0.0.1:8099/ && exit 0; sleep 0.1; done; exit 1")
        assert code == 0, out
        yield box


Make = Callable[[SandboxSpec], Awaitable[DockerSandbox]]


@pytest.fixture(scope="module", params=["cold", "pooled"])
async def make(request: pytest.FixtureRequest, ns_a: DockerProvider) -> AsyncIterator[Make]:
    """How the attackers' boxes are made: cold, or taken from a warm pool and adopted (the
    attacks must fail the same way)."""
    if request.param == "cold":

        async def cold(spec: SandboxSpec) -> DockerSandbox:
            return await ns_a.create(spec)

        yield cold
        return
    pooled = PooledProvider(ns_a, WarmConfig(pool_size=1, min_free_mb=0))
    await pooled.start_warm()

    async def from_pool(spec: SandboxSpec) -> DockerSandbox:
        shape = pool_shape(spec)
        pooled.pool.warm(shape)
        await pooled.pool.wait_full(shape)
        waiting = pooled.pool._idle[shape.key()][0].box
        box = await pooled.create(spec)
        assert box is waiting and isinstance(box, DockerSandbox)
        return box

    yield from_pool
    await pooled.close_warm()


@pytest.fixture(scope="module")
async def attacker(
    ns_a: DockerProvider, net_spec: SandboxSpec, docker_client: Any, echo: EchoServer, make: Make
) -> AsyncIterator[DockerSandbox]:
    spec = net_spec.model_copy(update={"network": "allowlist", "allowed_domains": ("allowed.test",)})
    async with await make(spec) as box:
        attach_proxy(docker_client, ns_a.egress.container_name, echo.network)
        yield box


@pytest.fixture(scope="module")
async def open_attacker(net_spec: SandboxSpec, make: Make) -> AsyncIterator[DockerSandbox]:
    async with await make(net_spec.model_copy(update={"network": "egress"})) as box:
        yield box


def _targets(docker_client: Any, provider: DockerProvider, echo: EchoServer) -> list[str]:
    """The host's addresses a box could hope for: the gateways of every network involved."""
    gateways = {
        network_gateway(docker_client, "bridge"), network_gateway(docker_client, provider.egress.network),
        echo.gateway,
    }
    return sorted(g for g in gateways if g)


async def test_boxes_cannot_reach_each_other(
    listening_box: DockerSandbox, attacker: DockerSandbox, open_attacker: DockerSandbox, docker_client: Any
) -> None:
    victim = docker_client.api.inspect_container(listening_box.container_id)["NetworkSettings"]
    assert list(victim["Networks"]) == ["none"] and not victim["IPAddress"]  # nothing to aim at
    name = listening_box.where.container_name
    for box in (attacker, open_attacker):
        assert await sh(box, "ls /sys/class/net") == (0, "lo\n")
        code, out = await sh(box, f"curl -sS --connect-timeout 2 --noproxy '*' http://{name}:8099/")
        assert code != 0 and "Directory listing" not in out, out
        code, out = await sh(box, f"curl -sS --max-time 5 http://{name}:8099/")
        assert "Directory listing" not in out and "Hangar egress proxy" in out, out
        # The victim's own loopback is its own: 127.0.0.1:8099 in another box is not the victim's.
        code, out = await sh(box, "curl -sS --connect-timeout 2 --noproxy '*' http://127.0.0.1:8099/")
        assert code != 0, out


async def test_the_host_does_not_answer_on_any_gateway(
    attacker: DockerSandbox, open_attacker: DockerSandbox, host_listener: HostListener, docker_client: Any,
    ns_a: DockerProvider, echo: EchoServer,
) -> None:
    targets = _targets(docker_client, ns_a, echo)
    assert targets
    port = host_listener.port
    for gateway in targets:
        for box in (attacker, open_attacker):
            code, out = await sh(box, f"curl -sS --connect-timeout 2 --noproxy '*' http://{gateway}:{port}/")
            assert code != 0 and "host!" not in out, out
            for flags in ("", "--proxytunnel"):
                code, out = await sh(box, f"curl -sS --max-time 5 -w '\\n%{{http_code}}' {flags} "
                                          f"http://{gateway}:{port}/")
                assert "host!" not in out and ("\n403" in out or "response 403" in out), out
    assert host_listener.accepted == []


async def test_namespaces_share_no_network(
    ns_a: DockerProvider, ns_b: DockerProvider, net_spec: SandboxSpec, docker_client: Any,
    listening_box: DockerSandbox,
) -> None:
    spec = net_spec.model_copy(update={"network": "egress"})
    async with await ns_b.create(spec) as other:
        assert ns_a.egress.network != ns_b.egress.network
        for provider in (ns_a, ns_b):
            network = docker_client.api.inspect_network(provider.egress.network)
            members = {c["Name"] for c in network["Containers"].values()}
            assert members == {provider.egress.container_name}, members
        networks = docker_client.api.inspect_container(other.container_id)["NetworkSettings"]["Networks"]
        assert list(networks) == ["none"]
        # B's proxy cannot resolve or reach A's box, and B's box sees only its own socket.
        _, out = await sh(other, f"curl -sS --max-time 5 http://{listening_box.where.container_name}:8099/")
        assert "Directory listing" not in out and "Hangar egress proxy" in out, out
        assert (await sh(other, "ls /run/egress"))[1] == "proxy.sock\n"
        mounts = docker_client.api.inspect_container(other.container_id)["Mounts"]
        egress = [m for m in mounts if m["Destination"] == "/run/egress"]
        assert len(egress) == 1 and egress[0]["RW"] is False
        assert egress[0]["Source"].endswith(f"/{ns_b.config.namespace}/egress-proxy/boxes/{other.id}")
