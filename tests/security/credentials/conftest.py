"""A real server with real boxes, and an HTTPS upstream of the test's own: credentials injected by
the egress proxy, attacked from inside the box and by a second tenant.

The server harness lives with the API integration tests (``tests/integration/api/env_harness.py``);
its folder is put on ``sys.path`` here, as pytest does for the folders of the tests themselves.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

API_TESTS = Path(__file__).resolve().parents[2] / "integration" / "api"
if str(API_TESTS) not in sys.path:
    sys.path.insert(0, str(API_TESTS))

from creds_harness import _SERVER, API_VALUE, TOKEN, UPSTREAM_HOSTS, Upstream, make_certs  # noqa: E402
from env_harness import Served, serve, settings_for  # noqa: E402

from runtime.sandbox.base import SandboxSpec  # noqa: E402
from runtime.service.sandboxes import docker_backend  # noqa: E402


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certs(tmp_path_factory.mktemp("upstream-certs") / "certs").parent


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str, certs: Path, drop_environment_volumes: Any
) -> Iterator[Served]:
    """A server whose operator lets boxes reach the test's upstream names (private addresses) and
    trusts the test's CA for upstreams the proxy terminates TLS to."""
    data_dir = tmp_path_factory.mktemp("hangar-sec-creds")
    settings = settings_for(data_dir, sandbox_image).model_copy(update={
        "egress_private_hosts": UPSTREAM_HOSTS, "egress_upstream_ca": certs / "ca.pem",
        "outbound_allow_hosts": ("127.0.0.1",),  # the test's OAuth2 token endpoint
    })
    with serve(settings) as running:
        yield running
    drop_environment_volumes(data_dir)


@pytest.fixture(scope="module")
def upstream(served: Served, docker_client: Any, sandbox_image: str, certs: Path) -> Iterator[Upstream]:
    """The HTTPS upstream, on a network the test creates under :data:`UPSTREAM_HOSTS`, joined by
    the provider's egress proxy (started first by a keeper box)."""
    provider = docker_backend(served.services.environments.provider)  # under the warm paths
    assert provider is not None
    keeper = served.call(provider.create(SandboxSpec(
        image=sandbox_image, network="allowlist", allowed_domains=("plain.test",), cpus=0.5, memory_mb=256,
    )))
    network = f"hangar-test-creds-{secrets.token_hex(4)}"
    api = docker_client.api
    api.create_network(network, driver="bridge", check_duplicate=True, labels={"hangar.test": "creds"})
    container_id = ""
    try:
        container_id = api.create_container(
            sandbox_image, entrypoint=["python3", "-c", _SERVER], labels={"hangar.test": "creds"},
            host_config=api.create_host_config(
                network_mode=network, binds={str(certs): {"bind": "/certs", "mode": "ro"}},
                read_only=True, cap_drop=["ALL"],
            ),
            networking_config=api.create_networking_config(
                {network: api.create_endpoint_config(aliases=list(UPSTREAM_HOSTS))}
            ),
        )["Id"]
        api.start(container_id)
        api.connect_container_to_network(provider.egress.container_name, network)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 20
        while b"Serving TLS" not in api.logs(container_id):
            assert time.monotonic() < deadline, api.logs(container_id)
            time.sleep(0.05)
        yield Upstream(container_id, network, keeper, docker_client)
    finally:
        with contextlib.suppress(Exception):
            api.disconnect_container_from_network(provider.egress.container_name, network, force=True)  # type: ignore[attr-defined]
        if container_id:
            with contextlib.suppress(Exception):
                api.remove_container(container_id, force=True)
        with contextlib.suppress(Exception):
            api.remove_network(network)
        served.call(keeper.stop())


@pytest.fixture(scope="module")
def agent(served: Served) -> Iterator[str]:
    client = served.server.client()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        agents = client.agents
    agents.create(id="cred-probe", base_agent="antigravity", extra_body={"outputs": []})
    yield "cred-probe"
    agents.delete("cred-probe")


@pytest.fixture(scope="module")
def credentials(served: Served) -> None:
    client = served.server.client()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        creds = client.credentials
    creds.create(type="bearer_token", id="gh", token=TOKEN, prefix="token")
    creds.create(type="environment_variable", id="api-key", value=API_VALUE,
                 injection_location=["query", "body"], trusted_domains=["secure.test"])
