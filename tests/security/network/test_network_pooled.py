"""Pooled boxes with egress, attacked from inside: a box taken from the warm pool for an allowlist
reaches its allowlist and nothing else, and a box pre-started for new environments, adopted by one
environment's run, carries that run's rule only: never the rule, nor the credentials, of the
environment whose run taught the pool its spec (the proxy's decision says which rule applied)."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from network_harness import EchoServer, attach_proxy, sh

from runtime.sandbox.base import EgressRule, SandboxSpec
from runtime.sandbox.docker import DockerProvider, DockerSandbox
from runtime.sandbox.pooled import PooledProvider, WarmConfig, pool_shape

pytestmark = pytest.mark.docker

CURL = "curl -sS --max-time 5"
NOT_LISTED = "is not in this sandbox's allowlist"


@pytest.fixture
async def pooled(ns_a: DockerProvider) -> AsyncIterator[PooledProvider]:
    tag = secrets.token_hex(3)
    warm = PooledProvider(ns_a, WarmConfig(pool_size=1, min_free_mb=0),
                          workspace_name=lambda env: f"hangar-ws-tpool-{tag}-{env}")
    await warm.start_warm()
    yield warm
    await warm.close_warm()


def allowlist(spec: SandboxSpec, *domains: str, **more: Any) -> SandboxSpec:
    return spec.model_copy(update={"network": "allowlist", "allowed_domains": domains, **more})


def rule_of(provider: DockerProvider, box: DockerSandbox) -> dict[str, Any]:
    return dict(json.loads((provider.egress.policy_dir / f"{box.id}.json").read_text()))


async def test_a_pooled_allowlist_box_reaches_only_its_allowlist(
    pooled: PooledProvider, ns_a: DockerProvider, net_spec: SandboxSpec, docker_client: Any, echo: EchoServer
) -> None:
    spec = allowlist(net_spec, "allowed.test")
    shape = pool_shape(spec)
    pooled.pool.warm(shape)
    await pooled.pool.wait_full(shape)
    waiting = pooled.pool._idle[shape.key()][0].box
    attach_proxy(docker_client, ns_a.egress.container_name, echo.network)
    # Before a run adopts it, a pooled box's rule allows nothing.
    assert isinstance(waiting, DockerSandbox) and rule_of(ns_a, waiting)["domains"] == []
    before = echo.log(docker_client).count("REQ ")
    async with await pooled.create(spec) as box:
        assert box is waiting
        _, out = await sh(box, f"{CURL} http://allowed.test:8000/")
        assert "host=allowed.test" in out, out
        for host in ("denied.test", echo.name, "pypi.org"):
            _, out = await sh(box, f"{CURL} http://{host}:8000/")
            assert f"host {host} {NOT_LISTED}" in out, out
            _, out = await sh(box, f"{CURL} https://{host}/")
            assert "403" in out or NOT_LISTED in out, out
        _, out = await sh(box, f"{CURL} http://{echo.ip}:8000/")
        assert "IP literal" in out and "host=" not in out, out
        code, out = await sh(box, f"{CURL} --noproxy '*' http://{echo.ip}:8000/")
        assert code != 0, out  # no interface: nothing leaves the box but through its proxy socket
    assert echo.log(docker_client).count("REQ ") == before + 1  # only the allowed request got there


async def test_a_box_adopted_for_one_environment_never_carries_anothers_rule_or_credentials(
    pooled: PooledProvider, ns_a: DockerProvider, net_spec: SandboxSpec, docker_client: Any, echo: EchoServer
) -> None:
    assert pooled._workspace_name is not None
    volume_b = pooled._workspace_name(f"env_b{secrets.token_hex(4)}")
    volumes = [volume_b]
    spec_b = allowlist(net_spec, "denied.test", workspace_volume=volume_b)
    secret_b = f"secret-of-b-{secrets.token_hex(4)}"
    spec_b_creds = allowlist(net_spec, "denied.test", workspace_volume=volume_b, egress_rules=(
        EgressRule(domain="denied.test", headers=(("X-Secret", secret_b),)),
    ))
    try:
        # Environment B's run teaches the pool its spec (its shape is pre-started for new environments).
        await pooled.release(await pooled.create(spec_b))
        template = pool_shape(spec_b).model_copy(update={"workspace_volume": None})
        await pooled.environments.wait_full(template)
        env_a = pooled.claim_environment()
        assert env_a is not None
        volumes.append(pooled._workspace_name(env_a))
        waiting = pooled.kept(volumes[-1])
        spec_a = allowlist(net_spec, "allowed.test", workspace_volume=volumes[-1])
        box_a = await pooled.create(spec_a)
        box_b = await pooled.create(spec_b_creds)  # B again, now with a credential: a box of its own
        attach_proxy(docker_client, ns_a.egress.container_name, echo.network)
        try:
            assert box_a is waiting and isinstance(box_a, DockerSandbox) and isinstance(box_b, DockerSandbox)
            assert box_b is not waiting
            _, out = await sh(box_a, f"{CURL} http://allowed.test:8000/")
            assert "host=allowed.test" in out, out
            _, out = await sh(box_a, f"{CURL} http://denied.test:8000/")
            assert f"host denied.test {NOT_LISTED}" in out, out  # B's domain is not A's
            # B's rule: its domain passes the allowlist (then the private-address guard stops it).
            _, out = await sh(box_b, f"{CURL} http://denied.test:8000/")
            assert "resolves to" in out and "private address" in out, out
            _, out = await sh(box_b, f"{CURL} http://allowed.test:8000/")
            assert f"host allowed.test {NOT_LISTED}" in out, out
            rule_a = rule_of(ns_a, box_a)
            assert rule_a["domains"] == ["allowed.test"] and not rule_a.get("inject")
            assert secret_b not in (ns_a.egress.policy_dir / f"{box_a.id}.json").read_text()
            _, env = await sh(box_a, "env; ls /run/egress")
            assert "SSL_CERT_FILE" not in env and "ca-bundle" not in env and secret_b not in env, env
        finally:
            await box_a.stop()
            await box_b.stop()
    finally:
        for name in volumes:
            await pooled.remove_volume(name)
