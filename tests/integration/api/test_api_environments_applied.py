"""The ``environment`` of an interaction, an environment's create body and an agent's
``base_environment`` are applied, through the real google-genai client against a real server
running real boxes (the fake model scripts shell calls that look at the box from inside).

The server's operator lets ``allowed.test`` and ``repo.test`` (test containers on a network of the
test) resolve to private addresses; ``denied.test`` is the same container under a name no box
allows. See :mod:`env_harness`.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from env_harness import Served, WebHosts, probe_agent, serving, web_hosts
from google.genai import _interactions as errors
from harness.sdk import agents_of, environments_of

from runtime.llm import call, turn

pytestmark = pytest.mark.docker

PROBE = (
    "for h in allowed.test denied.test; do "
    "printf '%s=' $h; curl -s -o /dev/null -w '%{http_code}\\n' --max-time 5 http://$h:8000/hello.txt; done"
)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str, drop_environment_volumes: Any
) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("hangar-envs"), sandbox_image, drop_environment_volumes) as running:
        yield running


@pytest.fixture(scope="module")
def hosts(
    served: Served, docker_client: Any, sandbox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebHosts]:
    with web_hosts(served, docker_client, sandbox_image, tmp_path_factory.mktemp("www")) as running:
        yield running


@pytest.fixture(scope="module")
def agent(served: Served) -> Iterator[str]:
    with probe_agent(served, "env-probe") as agent_id:
        yield agent_id


def run_shell(served: Served, agent: str, command: str, **kwargs: Any) -> tuple[Any, str]:
    """One run whose model calls ``shell`` once with ``command``; its interaction and the output."""
    served.server.script.set(turn(calls=[call("shell", command=command, id="s1")]), turn("Done."))
    client = served.server.client()
    done = client.interactions.create(agent=agent, input="look around", **kwargs)
    assert done.status == "completed", getattr(done, "errors", None)
    result = next(s for s in done.steps if s.type == "code_execution_result")
    return done, str(result.result)


def probe(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if line.endswith(("200", "403", "000")))


# --- environment="remote" ---------------------------------------------------------------------------


def test_remote_means_a_fresh_environment(served: Served) -> None:
    """Google's first line: ``environment="remote"`` (the shipped agent, with its walkthrough)."""
    client = served.server.client()
    ids = []
    for _ in range(2):
        served.server.script.set(
            turn(calls=[call("shell", command="ls -A /workspace | wc -l; echo made > mine.txt", id="s1")]),
            turn(calls=[call("update_artifact", artifact="walkthrough", content="# W\n", id="wt")]),
            turn("Done."),
        )
        done = client.interactions.create(agent="antigravity", input="hi", environment="remote")
        assert done.status == "completed", getattr(done, "errors", None)
        result = next(s for s in done.steps if s.type == "code_execution_result")
        assert result.result.strip().splitlines()[0] == "0"  # a fresh, empty workspace
        ids.append(done.environment_id)
    assert ids[0] != ids[1] and all(i.startswith("env_") for i in ids)
    env = environments_of(client).get(ids[0])
    assert env.status == "active" and env.last_accessed is not None
    assert environments_of(client).files.download(environment=ids[0], path="mine.txt") == b"made\n"


def test_a_replayed_request_leaves_no_extra_environment(served: Served, agent: str) -> None:
    client = served.server.client()
    environments = environments_of(client)
    before = {e.id for e in environments.list(page_size=1000).environments}
    served.server.script.set(turn("Done."))
    key = {"Idempotency-Key": secrets.token_hex(8)}
    first = client.interactions.create(agent=agent, input="x", environment="remote", extra_headers=key)
    second = client.interactions.create(agent=agent, input="x", environment="remote", extra_headers=key)
    assert first.id == second.id
    after = {e.id for e in environments.list(page_size=1000).environments}
    assert after - before == {first.environment_id}


# --- sources, env and network on an interaction ---------------------------------------------------


def test_interaction_environment_is_applied_in_the_box(served: Served, hosts: WebHosts, agent: str) -> None:
    environment = {
        "type": "remote",
        "sources": [
            {"type": "inline", "content": "Dear {name}\n", "target": "/workspace/templates/letter.txt"},
            {"type": "inline", "content": base64.b64encode(b"\x00\x01bin").decode(), "encoding": "base64",
             "target": "data/blob.bin"},
        ],
        "env": {"GREETING": "bonjour", "STYLE": {"value": "formal"}},
        "network": {"allowlist": [{"domain": "allowed.test"}]},
    }
    command = f"cat templates/letter.txt; base64 data/blob.bin; echo env=$GREETING,$STYLE; {PROBE}"
    done, out = run_shell(served, agent, command, environment=environment)
    assert "Dear {name}" in out and "AAFiaW4=" in out and "env=bonjour,formal" in out, out
    assert probe(out) == {"allowed.test": "200", "denied.test": "403"}, out
    client = served.server.client()
    env = environments_of(client).get(done.environment_id)
    assert env.network.allowlist[0].domain == "allowed.test"
    assert [s.target for s in env.sources] == ["templates/letter.txt", "data/blob.bin"]


def test_network_disabled_means_no_network(served: Served, hosts: WebHosts, agent: str) -> None:
    _, out = run_shell(served, agent, f"ls /sys/class/net; {PROBE}", environment={"network": "disabled"})
    assert out.split()[0] == "lo" and probe(out) == {"allowed.test": "000", "denied.test": "000"}, out


def test_no_network_means_disabled_unless_the_operator_allows_open_egress(
    served: Served, hosts: WebHosts, agent: str
) -> None:
    _, out = run_shell(served, agent, "ls /sys/class/net | tr '\\n' ' '", environment="remote")
    assert out.split("[exit")[0].split() == ["lo"], out


def test_network_is_reapplied_on_an_existing_environment(
    served: Served, hosts: WebHosts, agent: str
) -> None:
    client = served.server.client()  # kept: the SDK closes its transport when the client goes
    environments = environments_of(client)
    env = environments.create(network={"allowlist": [{"domain": "allowed.test"}]})
    try:
        _, out = run_shell(served, agent, f"echo kept > kept.txt; {PROBE}", environment=env.id)
        assert probe(out)["allowed.test"] == "200", out
        again = {"type": "remote", "environment_id": env.id, "network": "disabled"}
        done, out = run_shell(served, agent, f"cat kept.txt; {PROBE}", environment=again)
        assert done.environment_id == env.id
        assert "kept" in out and probe(out)["allowed.test"] == "000", out  # rules replaced, files kept
        assert environments.get(env.id).network == "disabled"
        # And the other way round: an allowlist granted to it later.
        denied_only = {"allowlist": [{"domain": "denied.test"}]}
        opened = {"type": "remote", "environment_id": env.id, "network": denied_only}
        _, out = run_shell(served, agent, PROBE, environment=opened)
        assert probe(out)["allowed.test"] == "403", out
    finally:
        environments.delete(env.id)


# --- repository sources ---------------------------------------------------------------------------


def test_repository_source_is_cloned_at_its_ref(served: Served, hosts: WebHosts, agent: str) -> None:
    client = served.server.client()  # kept: the SDK closes its transport when the client goes
    environments = environments_of(client)
    env = environments.create(sources=[
        {"type": "repository", "source": "http://repo.test:8000/repo.git#v1", "target": "/workspace/src/v1"},
        {"type": "repository", "source": "http://repo.test:8000/repo.git", "target": "src/default"},
    ])
    try:
        assert environments.files.download(environment=env.id, path="src/v1/README.md") == b"v1\n"
        assert environments.files.download(environment=env.id, path="src/default/README.md") == b"main\n"
        assert environments.get(env.id).last_accessed is not None
        # On an interaction: a branch, into the interaction's environment.
        source = {"type": "repository", "source": "http://repo.test:8000/repo.git#feature", "target": "feat"}
        _, out = run_shell(
            served, agent, "cat feat/README.md src/v1/README.md; git -C feat log --oneline | wc -l",
            environment={"type": "remote", "environment_id": env.id, "sources": [source]},
        )
        assert out.split("[exit")[0].split() == ["feature", "v1", "2"], out
    finally:
        environments.delete(env.id)


def test_repository_that_cannot_be_cloned_is_a_400(served: Served, hosts: WebHosts) -> None:
    client = served.server.client()  # kept: the SDK closes its transport when the client goes
    environments = environments_of(client)
    before = {e.id for e in environments.list(page_size=1000).environments}
    with pytest.raises(errors.BadRequestError, match=r"sources\[0\]\.source: could not clone"):
        environments.create(sources=[{"type": "repository", "source": "http://repo.test:8000/nope.git",
                                      "target": "x"}])
    assert {e.id for e in environments.list(page_size=1000).environments} == before  # nothing left


# --- base_environment ---------------------------------------------------------------------------


def test_base_environment_is_applied_on_every_run(served: Served, hosts: WebHosts) -> None:
    client = served.server.client()
    name = f"based-{secrets.token_hex(3)}"
    agents_of(client).create(id=name, base_agent="antigravity", extra_body={"outputs": []}, base_environment={
        "type": "remote",
        "sources": [{"type": "inline", "content": "cfg-1\n", "target": "/workspace/conf/app.cfg"},
                    {"type": "repository", "source": "http://repo.test:8000/repo.git#v1",
                     "target": "vendor"}],
        "env": {"MODE": "strict"},
        "network": {"allowlist": [{"domain": "allowed.test"}]},
    })
    try:
        command = f"cat conf/app.cfg vendor/README.md; echo mode=$MODE; {PROBE}"
        first, out = run_shell(served, name, command)
        second, out2 = run_shell(served, name, command, environment="remote")
        assert first.environment_id != second.environment_id
        for text in (out, out2):
            assert "cfg-1" in text and "v1" in text and "mode=strict" in text, text
            assert probe(text) == {"allowed.test": "200", "denied.test": "403"}, text
        # A follow-up turn in the same environment keeps what the earlier turn did to the sources.
        served.server.script.set(
            turn(calls=[call("shell", command="echo edited > conf/app.cfg", id="s1")]), turn("Done.")
        )
        edited = client.interactions.create(agent=name, input="edit", previous_interaction_id=second.id)
        assert edited.status == "completed"
        _, out3 = run_shell(served, name, "cat conf/app.cfg", previous_interaction_id=edited.id)
        assert out3.split("[exit")[0].strip() == "edited", out3
    finally:
        agents_of(client).delete(name)


# --- forks -------------------------------------------------------------------------------------


def test_from_environment_copies_an_environment(served: Served, hosts: WebHosts, agent: str) -> None:
    client = served.server.client()
    environments = environments_of(client)
    original = environments.create(
        sources=[{"type": "inline", "content": "tmpl\n", "target": "t/a.txt"}],
        network={"allowlist": [{"domain": "allowed.test"}]},
    )
    forks = []
    try:
        run_shell(served, agent, "echo made-by-run > t/b.txt", environment=original.id)
        fork = environments.create(from_environment=f"environments/{original.id}")
        forks.append(fork.id)
        assert fork.id != original.id and fork.file_count == 2
        assert fork.network.allowlist[0].domain == "allowed.test"
        _, out = run_shell(served, agent, f"cat t/a.txt t/b.txt; echo changed > t/a.txt; {PROBE}",
                           environment=fork.id)
        assert "tmpl" in out and "made-by-run" in out and probe(out)["allowed.test"] == "200", out
        assert environments.files.download(environment=original.id, path="t/a.txt") == b"tmpl\n"
        closed = environments.create(from_environment=original.id, network="disabled")
        forks.append(closed.id)
        assert closed.network == "disabled" and closed.file_count == 2
        empty = environments.create(network="disabled")  # never used: it has no volume yet
        forks.append(empty.id)
        of_empty = environments.create(from_environment=empty.id)
        forks.append(of_empty.id)
        assert (of_empty.status, of_empty.file_count, of_empty.network) == ("active", 0, "disabled")
        assert environments.get(empty.id).status == "active"
        with pytest.raises(errors.BadRequestError, match="sources: must be empty"):
            environments.create(from_environment=original.id,
                                sources=[{"type": "inline", "content": "x", "target": "x"}])
        other = served.server.client(served.server.other_key)
        with pytest.raises(errors.NotFoundError):
            environments_of(other).create(from_environment=original.id)
    finally:
        for environment_id in [*forks, original.id]:
            environments.delete(environment_id)


def test_base_environment_id_is_forked_for_every_run(served: Served, hosts: WebHosts) -> None:
    client = served.server.client()
    environments = environments_of(client)
    template = environments.create(
        sources=[{"type": "inline", "content": "seed\n", "target": "seed.txt"}],
        network={"allowlist": [{"domain": "allowed.test"}]},
    )
    name = f"forker-{secrets.token_hex(3)}"
    agents_of(client).create(id=name, base_agent="antigravity", base_environment=template.id,
                             extra_body={"outputs": []})
    try:
        first, out = run_shell(served, name, f"cat seed.txt; echo run1 >> seed.txt; {PROBE}")
        second, out2 = run_shell(served, name, "cat seed.txt", environment="remote")
        assert "seed" in out and probe(out)["allowed.test"] == "200", out
        assert out2.split("[exit")[0].strip() == "seed", out2  # a copy of the template, not of run 1
        assert len({first.environment_id, second.environment_id, template.id}) == 3
        _, out3 = run_shell(served, name, "cat seed.txt", previous_interaction_id=first.id)
        assert out3.split("[exit")[0].split() == ["seed", "run1"], out3  # a follow-up is not re-forked
        assert environments.files.download(environment=template.id, path="seed.txt") == b"seed\n"
    finally:
        agents_of(client).delete(name)
        environments.delete(template.id)


# --- bad values ---------------------------------------------------------------------------------

BIG = "x" * (1024 * 1024 + 1)
NEAR = "y" * (900 * 1024)
BAD_ENVIRONMENTS = [
    ({"sources": [{"type": "gcs", "source": "gs://b/o", "target": "data"}]}, r"sources\[0\]\.type: gcs"),
    ({"sources": [{"type": "inline", "content": "x", "target": "/etc/passwd"}]}, r"sources\[0\]\.target"),
    ({"sources": [{"type": "inline", "content": "x", "target": "/"}]}, r"sources\[0\]\.target"),
    ({"sources": [{"type": "inline", "content": "x", "target": "/workspace"}]}, r"sources\[0\]\.target"),
    ({"sources": [{"type": "inline", "content": "x", "target": "a/../../x"}]}, r"sources\[0\]\.target"),
    ({"sources": [{"type": "inline", "content": BIG, "target": "big"}]},
     r"sources\[0\]\.content: 1048577 bytes"),
    ({"sources": [{"type": "inline", "content": NEAR, "target": f"f{i}"} for i in range(3)]},
     r"sources: inline sources hold more than"),
    ({"sources": [{"type": "repository", "source": "ssh://git@h.test/r", "target": "r"}]},
     r"sources\[0\]\.source"),
    ({"sources": [{"type": "repository", "source": "http://10.0.0.1/r.git", "target": "r"}]},
     r"sources\[0\]\.source"),
    ({"network": {"allowlist": [{"domain": "*"}]}}, r"network\.allowlist\[0\]\.domain: '\*' \(open egress\)"),
    ({"network": {"allowlist": [{"domain": "a.test", "transform": {"X-A": "b\r\nX-Evil: 1"}}]}},
     r"network\.allowlist\[0\]\.transform: .*header"),
    ({"network": {"allowlist": [{"domain": "a.test", "credential": "c1"}]}},
     r"network\.allowlist\[0\]\.credential: credential 'c1' not found"),
    ({"network": {"allowlist": [{"domain": "a.test", "bogus": 1}]}}, r"network\.allowlist\[0\]\.bogus"),
    ({"env": {"TOKEN": {"credential": "cred_1"}}}, r"env\.TOKEN\.credential: credential 'cred_1' not found"),
    ({"env": {"HTTPS_PROXY": "http://evil"}}, r"env\.HTTPS_PROXY"),
    ({"mode": "x"}, r"mode: Extra inputs"),
]


@pytest.mark.parametrize(("body", "message"), BAD_ENVIRONMENTS)
def test_bad_environment_values_are_400s_naming_the_field(
    served: Served, agent: str, body: dict[str, Any], message: str
) -> None:
    served.server.script.set()  # the model must not be called at all
    client = served.server.client()
    with pytest.raises(errors.BadRequestError, match=rf"environment\.{message}"):
        client.interactions.create(agent=agent, input="x", environment={"type": "remote", **body})
    with pytest.raises(errors.BadRequestError, match=rf"base_environment\.{message}"):
        agents_of(client).create(id="never-made", base_environment={"type": "remote", **body})
    if "env" not in body and "mode" not in body:  # an environment resource has neither
        raw = httpx.post(f"{served.server.url}/v1/environments", json=body,
                         headers={"x-goog-api-key": served.server.dev_key})
        assert raw.status_code == 400, raw.text
        assert re.search(message, raw.json()["error"]["message"]), raw.text
    assert served.server.script.requests == []  # nothing ran


def test_other_refusals(served: Served, agent: str) -> None:
    client = served.server.client()
    headers = {"x-goog-api-key": served.server.dev_key}
    raw = httpx.post(f"{served.server.url}/v1/environments", json={"bogus": 1}, headers=headers)
    assert raw.status_code == 400 and "bogus" in raw.text
    raw = httpx.post(
        f"{served.server.url}/v1/environments", json={"from_environment": "env_x"}, headers=headers
    )
    assert raw.status_code == 404 and "env_x" in raw.text
    with pytest.raises(errors.BadRequestError, match="base_environment: environment 'env_123' not found"):
        agents_of(client).create(id="never-made", base_environment="env_123")
    with pytest.raises(errors.BadRequestError, match="environment: only agent interactions"):
        client.interactions.create(model="gemini-3-flash-preview", input="x", environment="remote")
    with pytest.raises(errors.NotFoundError):
        client.interactions.create(agent=agent, input="x", environment="env_nope")


# --- status and last_accessed --------------------------------------------------------------------


def test_status_and_last_accessed(served: Served, agent: str, docker_client: Any) -> None:
    client = served.server.client()  # kept: the SDK closes its transport when the client goes
    environments = environments_of(client)
    env = environments.create()
    try:
        fresh = environments.get(env.id)
        assert fresh.status == "active" and fresh.last_accessed is None
        run_shell(served, agent, "echo x > x.txt", environment=env.id)
        used = environments.get(env.id)
        assert used.status == "active" and used.last_accessed is not None and used.file_count == 1
        # Its workspace removed behind Hangar's back (the test's own volume): the environment expired.
        served.call(served.services.environments._boxes.release(_volume(served, env.id)))
        served.call(served.services.environments.provider.discard(_volume(served, env.id)))  # type: ignore[union-attr, attr-defined]  # its kept box
        docker_client.api.remove_volume(_volume(served, env.id), force=True)
        gone = environments.get(env.id)
        assert gone.status == "expired" and gone.file_count == 0
        listed = environments.list(page_size=1000).environments
        assert [e.status for e in listed if e.id == env.id] == ["expired"]
        with pytest.raises(errors.NotFoundError, match="expired"):
            client.interactions.create(agent=agent, input="x", environment=env.id)
    finally:
        environments.delete(env.id)


def _volume(served: Served, environment_id: str) -> str:
    record = served.call(served.services.environments.record("default", environment_id))
    return record.volume
