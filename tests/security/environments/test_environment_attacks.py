"""A tenant attacks through what it may ask of an environment: open egress, repository sources
aimed at the host or at private hosts, another tenant's environment, the box's own variables.
Each attack runs against the real server and real boxes and must fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from env_harness import (
    Served,
    WebHosts,
    make_repository,
    probe_agent,
    serve,
    settings_for,
    start_test_hosts,
    stop_test_hosts,
)
from google.genai import _interactions as errors
from harness.sdk import agents_of, environments_of

from runtime.llm import call, turn
from runtime.service.environment_config import EgressPolicy

pytestmark = pytest.mark.docker

STAR = {"allowlist": [{"domain": "*"}]}


@pytest.fixture(scope="module")
def agent(served: Served) -> Iterator[str]:
    with probe_agent(served, "sec-probe") as agent_id:
        yield agent_id


def run_shell(served: Served, agent: str, command: str, **kwargs: Any) -> str:
    served.server.script.set(turn(calls=[call("shell", command=command, id="s1")]), turn("Done."))
    client = served.server.client()
    done = client.interactions.create(agent=agent, input="probe", **kwargs)
    assert done.status == "completed", getattr(done, "errors", None)
    output = next(s for s in done.steps if s.type == "code_execution_result").result
    return str(output).split("[exit")[0]


def post_environment(served: Served, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"x-goog-api-key": key or served.server.dev_key}
    return httpx.post(f"{served.server.url}/v1/environments", json=body, headers=headers, timeout=120)


def environment_ids(served: Served) -> set[str]:
    client = served.server.client()
    return {e.id for e in environments_of(client).list(page_size=1000).environments}


# --- open egress is the operator's ----------------------------------------------------------------


def test_tenant_cannot_grant_itself_open_egress(served: Served, agent: str) -> None:
    client = served.server.client()
    served.server.script.set()
    with pytest.raises(errors.BadRequestError, match=r"environment\.network\.allowlist\[0\]\.domain"):
        client.interactions.create(agent=agent, input="x", environment={"type": "remote", "network": STAR})
    with pytest.raises(errors.BadRequestError, match=r"base_environment\.network\.allowlist\[1\]\.domain"):
        agents_of(client).create(id="wide-open", base_agent="antigravity", base_environment={
            "type": "remote", "network": {"allowlist": [{"domain": "pypi.org"}, {"domain": "*"}]},
        })
    refused = post_environment(served, {"network": STAR})
    assert refused.status_code == 400 and "network.allowlist[0].domain" in refused.text
    # An existing environment cannot be opened up either.
    env = environments_of(client).create(network="disabled")
    try:
        with pytest.raises(errors.BadRequestError, match="open egress"):
            opened = {"type": "remote", "environment_id": env.id, "network": STAR}
            client.interactions.create(agent=agent, input="x", environment=opened)
        assert environments_of(client).get(env.id).network == "disabled"
    finally:
        environments_of(client).delete(env.id)
    assert served.server.script.requests == []  # no run started


def test_environment_without_network_gets_none_by_default(served: Served, agent: str) -> None:
    assert run_shell(served, agent, "ls /sys/class/net").split() == ["lo"]


def test_operator_setting_opens_egress(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str, drop_environment_volumes: Any,
    docker_client: Any,
) -> None:
    """With ``HANGAR_ALLOW_OPEN_EGRESS`` the same requests are accepted, and the box reaches a host
    no allowlist names (the test's own container, which the operator lets resolve privately)."""
    data_dir = tmp_path_factory.mktemp("hangar-open")
    folder = tmp_path_factory.mktemp("www-open")
    make_repository(folder)
    try:
        with serve(settings_for(data_dir, sandbox_image, allow_open_egress=True)) as opened:
            running = start_test_hosts(opened, docker_client, sandbox_image, folder)
            try:
                client = opened.server.client()
                agents_of(client).create(id="sec-open", base_agent="antigravity", extra_body={"outputs": []})
                fetch = "curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://allowed.test:8000/hello.txt"
                for environment in ({"type": "remote", "network": STAR}, "remote"):  # "*", and the default
                    assert run_shell(opened, "sec-open", fetch, environment=environment).strip() == "200"
                closed = {"type": "remote", "network": "disabled"}
                assert run_shell(opened, "sec-open", fetch, environment=closed).strip() == "000"
                # The operator closes open egress again: an environment a tenant opened earlier
                # does not keep it (its next run fails, saying why).
                wide = environments_of(client).create(network=STAR)
                opened.services.environments.policy = EgressPolicy(allow_open=False)
                opened.server.script.set(turn("never asked"))
                done = client.interactions.create(agent="sec-open", input="x", environment=wide.id)
                assert done.status == "failed" and "open egress" in str(done.errors), done
            finally:
                stop_test_hosts(opened, docker_client, running)
    finally:
        drop_environment_volumes(data_dir)


# --- repository sources -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/repo.git",
        "http://localhost:8000/repo.git",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/repo.git",
        "http://2130706433/repo.git",
        "file:///etc/passwd",
        "ext::sh -c touch% /tmp/pwned",
        "https://github.com/org/repo#--upload-pack=touch /tmp/pwned",
    ],
)
def test_repository_urls_at_the_host_are_refused_before_any_packet(served: Served, url: str) -> None:
    before = environment_ids(served)
    refused = post_environment(served, {"sources": [{"type": "repository", "source": url, "target": "r"}]})
    assert refused.status_code == 400 and "sources[0].source" in refused.text, refused.text
    assert environment_ids(served) == before


def test_repository_clone_goes_through_the_proxy_guard(served: Served, hosts: WebHosts) -> None:
    """``denied.test`` serves the same repository as ``repo.test`` but resolves to a private address
    the operator did not allow: the clone box's proxy refuses it (the host could not even resolve
    the name, so the refusal proves the clone ran in a box, behind the proxy)."""
    before = environment_ids(served)
    body = {"sources": [{"type": "repository", "source": "http://denied.test:8000/repo.git", "target": "r"}]}
    refused = post_environment(served, body)
    assert refused.status_code == 400, refused.text
    message = refused.json()["error"]["message"]
    assert "sources[0].source: could not clone" in message and "403" in message, message
    assert environment_ids(served) == before
    # The same repository under the allowed name is cloned: the refusal was the guard's.
    body["sources"][0]["source"] = "http://repo.test:8000/repo.git"
    made = post_environment(served, body)
    assert made.status_code == 200, made.text
    client = served.server.client()
    environments_of(client).delete(made.json()["id"])


# --- another tenant's environment ---------------------------------------------------------------


def test_other_tenant_cannot_use_or_reconfigure_an_environment(served: Served, agent: str) -> None:
    client = served.server.client()
    env = environments_of(client).create(network="disabled")
    other = served.server.client(served.server.other_key)
    try:
        for environment in (
            env.id,
            {"type": "remote", "environment_id": env.id,
             "network": {"allowlist": [{"domain": "allowed.test"}]}},
            {"type": "remote", "environment_id": env.id,
             "sources": [{"type": "inline", "content": "pwned", "target": "x.txt"}]},
        ):
            with pytest.raises(errors.NotFoundError):
                other.interactions.create(agent="antigravity", input="x", environment=environment)
        with pytest.raises(errors.NotFoundError):  # nor fork it, directly or through an agent
            environments_of(other).create(from_environment=env.id)
        with pytest.raises(errors.BadRequestError, match="not found"):
            agents_of(other).create(id="thief", base_agent="antigravity", base_environment=env.id)
        mine = environments_of(client).get(env.id)
        assert mine.network == "disabled" and mine.file_count == 0 and not mine.sources
    finally:
        environments_of(client).delete(env.id)


# --- the box's own variables ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["HTTPS_PROXY", "http_proxy", "NO_PROXY", "LD_PRELOAD", "PYTHONPATH", "PATH"]
)
def test_env_cannot_replace_what_the_sandbox_relies_on(served: Served, agent: str, name: str) -> None:
    client = served.server.client()
    with pytest.raises(errors.BadRequestError, match=rf"environment\.env\.{name}"):
        client.interactions.create(
            agent=agent, input="x", environment={"type": "remote", "env": {name: "/workspace/evil"}}
        )
