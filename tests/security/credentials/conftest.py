"""A real server with real boxes, and an HTTPS upstream of the test's own: credentials injected by
the egress proxy, attacked from inside the box and by a second tenant.

The server harness lives with the API integration tests (``tests/integration/api/env_harness.py``);
its folder is put on ``sys.path`` here, as pytest does for the folders of the tests themselves.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

API_TESTS = Path(__file__).resolve().parents[2] / "integration" / "api"
if str(API_TESTS) not in sys.path:
    sys.path.insert(0, str(API_TESTS))

from env_harness import Served, serve, settings_for  # noqa: E402

from runtime.sandbox.base import Sandbox, SandboxSpec  # noqa: E402
from runtime.sandbox.images import ensure_image  # noqa: E402

UPSTREAM_HOSTS = ("secure.test", "plain.test", "other.test")
UPSTREAM_CA_NAME = "Hangar test upstream CA"
PORT = 8443
_SERVER = r"""
import http.server, json, ssl
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _do(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode(errors="replace") if n else ""
        print(json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                          "body": body}), flush=True)
        data = b"seen\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = _do
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("0.0.0.0", 8443), H)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("/certs/server.pem")
server.socket = context.wrap_socket(server.socket, server_side=True)
print("Serving TLS", flush=True)
server.serve_forever()
"""


def make_certs(folder: Path) -> Path:
    """A test CA (``ca.pem``) and a server certificate for :data:`UPSTREAM_HOSTS` (``server.pem``)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, UPSTREAM_CA_NAME)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, UPSTREAM_HOSTS[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in UPSTREAM_HOSTS]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(mode=0o755, exist_ok=True)
    folder.chmod(0o755)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pem = leaf.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (folder / "server.pem").write_bytes(pem)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder / "ca.pem"


@dataclass
class Upstream:
    container_id: str
    network: str
    keeper: Sandbox
    docker: Any

    def requests(self) -> list[dict[str, Any]]:
        """What the upstream received, one entry per request."""
        lines = self.docker.api.logs(self.container_id).decode().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    client = docker.from_env()
    try:
        return ensure_image(client, log=lambda _line: None)
    finally:
        client.close()


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    client.close()


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
    provider = served.services.environments.provider
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
