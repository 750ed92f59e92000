"""Credentials injected by the egress proxy, attacked from inside a real box.

The box runs curl and Python against an HTTPS upstream of the test's own (a container on a
network the test creates). The upstream must see the secret where the credential allows it; the
box (its environment, files, ``/proc``, and its own view of the traffic) must hold only the
placeholder; a domain without injection must stay a blind tunnel (the box sees the upstream's own
certificate); the placeholder sent to another allowed host must arrive unsubstituted; another
tenant must not be able to use the credential; no secret may appear in the proxy's log.
"""

from __future__ import annotations

from typing import Any

import pytest
from creds_harness import API_VALUE, PORT, TOKEN, UPSTREAM_CA_NAME, Upstream
from env_harness import Served
from google.genai import _interactions as errors

from runtime.llm import call, turn
from runtime.service.sandboxes import docker_backend

pytestmark = [pytest.mark.docker,
              pytest.mark.filterwarnings("ignore:Credentials usage is experimental:UserWarning")]

PLACEHOLDER = "__GEMINI_CRED_gh__"
API_PLACEHOLDER = "__GEMINI_CRED_api-key__"


ENVIRONMENT = {
    "type": "remote",
    "network": {"allowlist": [
        {"domain": "secure.test", "credential": "gh", "transform": {"X-Trace": "t1"}},
        {"domain": "plain.test"},
        {"domain": "other.test"},
    ]},
    "env": {"GH": {"credential": "gh"}, "KEY": {"credential": "api-key"}},
}


def run_shell(served: Served, agent: str, command: str, key: str | None = None, **kwargs: Any) -> str:
    served.server.script.set(turn(calls=[call("shell", command=command, id="s1")]), turn("Done."))
    client = served.server.client(key)  # (kept: a collected client closes its connection pool)
    done = client.interactions.create(agent=agent, input="probe", **kwargs)
    assert done.status == "completed", getattr(done, "errors", None)
    return str(next(s for s in done.steps if s.type == "code_execution_result").result)


PROBE = f"""
echo "== env"; env | grep -E '^(GH|KEY|SSL_CERT_FILE|CURL_CA_BUNDLE)='
echo "== proc"; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -E '^(GH|KEY)=' | sort -u
echo "== files"; ls /run/egress
grep -rIl -e ghp- -e apikey- /run /workspace /tmp /home /etc /opt 2>/dev/null | head
echo "== secure"
curl -sS -v "https://secure.test:{PORT}/a?q=$GH&key=$KEY" -H "X-Echo: $GH" -H "Authorization: box" \\
  --data "k=$KEY&g=$GH" 2>&1 | grep -E '^(> |< HTTP|\\*  issuer|seen)'
echo "== python"
python3 -c "import urllib.request; print(urllib.request.urlopen('https://secure.test:{PORT}/py').read().decode())"
echo "== plain"
curl -sS -vk "https://plain.test:{PORT}/p?q=$GH" -H "X-Echo: $GH" -H "X-Key: $KEY" 2>&1 \\
  | grep -E '^(\\*  issuer|seen)'
echo "== other"
curl -sS -k "https://other.test:{PORT}/o" -H "Authorization: token $GH" 2>&1
"""


@pytest.fixture(scope="module")
def probe(served: Served, agent: str, credentials: None, upstream: Upstream) -> str:
    return run_shell(served, agent, PROBE, environment=ENVIRONMENT)


def section(output: str, name: str) -> str:
    return output.split(f"== {name}\n", 1)[1].split("\n== ", 1)[0]


def requests_to(upstream: Upstream, path: str) -> list[dict[str, Any]]:
    return [r for r in upstream.requests() if r["path"].split("?", 1)[0] == path]


def test_the_upstream_sees_the_secret(probe: str, upstream: Upstream) -> None:
    (seen,) = requests_to(upstream, "/a")
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["authorization"] == f"token {TOKEN}", "the credential's header replaces the box's"
    assert headers["x-echo"] == TOKEN, "the placeholder is replaced in headers (bearer: header only)"
    assert headers["x-trace"] == "t1", "the rule's transform is applied"
    assert headers["host"] == f"secure.test:{PORT}"
    assert seen["path"] == f"/a?q={PLACEHOLDER}&key={API_VALUE}", "query: only where the credential allows it"
    assert seen["body"] == f"k={API_VALUE}&g={PLACEHOLDER}"
    assert "seen" in section(probe, "secure")
    assert "seen" in section(probe, "python"), "Python's ssl trusts the namespace CA too"
    (python,) = requests_to(upstream, "/py")
    assert {k.lower(): v for k, v in python["headers"].items()}["authorization"] == f"token {TOKEN}"


def test_the_box_holds_only_placeholders(probe: str) -> None:
    assert TOKEN not in probe and API_VALUE not in probe
    assert f"GH={PLACEHOLDER}" in section(probe, "env")
    assert f"KEY={API_PLACEHOLDER}" in section(probe, "env")
    assert f"GH={PLACEHOLDER}" in section(probe, "proc")
    assert section(probe, "files").split() == ["ca-bundle.pem", "proxy.sock"], "no secret file anywhere"
    traffic = section(probe, "secure")
    assert f"> X-Echo: {PLACEHOLDER}" in traffic, "the box's own view of its request: the placeholder"
    assert "issuer: CN=Hangar egress CA" in traffic, "injection domains are terminated by the proxy"


def test_other_domains_stay_blind_tunnels(probe: str, upstream: Upstream) -> None:
    plain = section(probe, "plain")
    assert f"issuer: CN={UPSTREAM_CA_NAME}" in plain, "the box sees the upstream's own certificate"
    assert "seen" in plain
    (seen,) = requests_to(upstream, "/p")
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["x-echo"] == PLACEHOLDER and headers["x-key"] == API_PLACEHOLDER
    assert "authorization" not in headers and "x-trace" not in headers
    assert seen["path"] == f"/p?q={PLACEHOLDER}"


def test_the_header_never_goes_to_another_domain(probe: str, upstream: Upstream) -> None:
    (seen,) = requests_to(upstream, "/o")
    assert {k.lower(): v for k, v in seen["headers"].items()}["authorization"] == f"token {PLACEHOLDER}"


def test_no_secret_in_the_proxy_log(probe: str, served: Served, docker_client: Any) -> None:
    provider = docker_backend(served.services.environments.provider)  # under the warm paths
    assert provider is not None
    logs = docker_client.api.logs(provider.egress.container_name).decode()  # type: ignore[attr-defined]
    assert "secure.test" in logs
    assert TOKEN not in logs and API_VALUE not in logs
    # The namespace CA's key is on the host only: the proxy mounts its policy and socket folders.
    mounts = docker_client.api.inspect_container(provider.egress.container_name)["Mounts"]  # type: ignore[attr-defined]
    sources = [m["Source"] for m in mounts]
    assert len(sources) == 2 and all(not src.endswith("/ca") for src in sources), sources
    state = provider.egress.state_dir  # type: ignore[attr-defined]
    assert (state / "ca" / "ca.key").stat().st_mode & 0o777 == 0o600
    assert not any(p.name == "ca.key" for p in (state / "policy").rglob("*"))


def test_another_tenant_cannot_use_the_credential(served: Served, agent: str, upstream: Upstream) -> None:
    other = served.server.client(served.server.other_key)
    with pytest.raises(errors.BadRequestError, match=r"credential 'gh' not found"):
        other.interactions.create(agent="antigravity", input="x", environment=ENVIRONMENT)
    # Through the raw spec too: a box of another project naming "gh" gets nothing injected.
    from runtime.sandbox.base import EgressRule, SandboxSpec

    provider = docker_backend(served.services.environments.provider)  # under the warm paths
    assert provider is not None
    spec = SandboxSpec(
        image=upstream.docker.api.inspect_container(upstream.container_id)["Config"]["Image"],
        network="allowlist", allowed_domains=("secure.test",), cpus=0.5, memory_mb=256,
        egress_rules=(EgressRule(domain="secure.test", credential="gh"),), credential_scope="other-project",
    )

    async def attempt() -> str:
        async with await provider.create(spec) as box:
            result = await box.client.exec(
                ["curl", "-sS", f"https://secure.test:{PORT}/stolen"], timeout_s=60, max_output_bytes=4096
            )
            return result.stdout + result.stderr

    assert "seen" in served.call(attempt())
    (seen,) = requests_to(upstream, "/stolen")
    assert "authorization" not in {k.lower() for k in seen["headers"]}


FRONTING = f"""
import socket, ssl
s = socket.create_connection(("127.0.0.1", 3128))
s.sendall(b"CONNECT secure.test:{PORT} HTTP/1.1\\r\\nHost: secure.test:{PORT}\\r\\n\\r\\n")
print(s.recv(1000).split(b"\\r\\n")[0].decode())
try:
    c = ssl.create_default_context()
    c.check_hostname, c.verify_mode = False, ssl.CERT_NONE  # the box would accept any certificate
    t = c.wrap_socket(s, server_hostname="other.test")
    t.sendall(b"GET /fronted HTTP/1.1\\r\\nHost: other.test\\r\\n\\r\\n")
    print("answered", t.recv(1000)[:40])
except (OSError, ssl.SSLError) as e:
    print("refused", type(e).__name__, str(e)[:120])
"""


def test_fronting_another_name_into_an_injection_tunnel_fails(
    served: Served, agent: str, credentials: None, upstream: Upstream
) -> None:
    """A ClientHello naming another host than the CONNECT (domain fronting) gets no handshake."""
    output = run_shell(served, agent, f"python3 -c '{FRONTING}'", environment=ENVIRONMENT)
    assert "200 Connection established" in output
    assert "refused" in output, output
    assert requests_to(upstream, "/fronted") == []
    provider = docker_backend(served.services.environments.provider)  # under the warm paths
    assert provider is not None
    logs = upstream.docker.api.logs(provider.egress.container_name).decode()  # type: ignore[attr-defined]
    assert "TLS handshake with the sandbox failed" in logs, "the proxy refused the other server name"
