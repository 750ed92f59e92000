"""What a tenant may ask of an environment: checked whole at create time, 400s naming the field."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from runtime.agents import AgentSpec
from runtime.agents.wire import Source
from runtime.errors import InfraError, InputError
from runtime.sandbox.base import Provider, Sandbox, SandboxInfo, SandboxSpec
from runtime.service.environment_config import (
    DISABLED,
    OPEN,
    EgressPolicy,
    check_agent_environment,
    check_environment,
    parse_environment,
    repository,
)
from runtime.service.file_boxes import FileBoxes
from runtime.service.provisioning import Provisioner, digest

CLOSED = EgressPolicy()
OPENED = EgressPolicy(allow_open=True)


def checked(body: dict[str, Any], policy: EgressPolicy = CLOSED) -> None:
    check_environment(parse_environment(body, "environment"), "environment", policy)


def test_targets_under_workspace_are_accepted_and_made_relative() -> None:
    env = parse_environment({"sources": [
        {"type": "inline", "content": "x", "target": "/workspace/templates/a.txt"},
        {"type": "inline", "content": "y", "target": "b/c.txt"},
    ]}, "environment")
    assert [s.target for s in env.sources or []] == ["templates/a.txt", "b/c.txt"]


@pytest.mark.parametrize(
    "target", ["/", "/etc/passwd", "/workspace", "/workspacex/a", "..", "a/../../b", "/workspace/../x"]
)
def test_targets_outside_the_workspace_are_refused(target: str) -> None:
    with pytest.raises(InputError, match=r"environment\.sources\[0\]\.target"):
        parse_environment({"sources": [{"type": "inline", "content": "x", "target": target}]}, "environment")


def test_inline_sizes() -> None:
    checked({"sources": [{"type": "inline", "content": "x" * (1024 * 1024), "target": "a"}]})
    with pytest.raises(InputError, match=r"sources\[0\]\.content: 1048577 bytes"):
        checked({"sources": [{"type": "inline", "content": "x" * (1024 * 1024 + 1), "target": "a"}]})
    blob = base64.b64encode(b"\0" * (1024 * 1024 + 1)).decode()
    with pytest.raises(InputError, match=r"sources\[0\]\.content"):
        checked({"sources": [{"type": "inline", "content": blob, "encoding": "base64", "target": "a"}]})
    three = [{"type": "inline", "content": "x" * 800_000, "target": f"f{i}"} for i in range(3)]
    with pytest.raises(InputError, match=r"environment\.sources: inline sources hold more than 2097152"):
        checked({"sources": three})
    with pytest.raises(InputError, match=r"sources\[0\]\.encoding"):
        checked({"sources": [{"type": "inline", "content": "x", "encoding": "utf-16", "target": "a"}]})
    with pytest.raises(InputError, match=r"sources\[0\]\.content: not valid base64"):
        checked({"sources": [{"type": "inline", "content": "!!", "encoding": "base64", "target": "a"}]})


@pytest.mark.parametrize("kind", ["gcs", "skill_registry"])
def test_sources_this_server_cannot_fetch_are_refused(kind: str) -> None:
    with pytest.raises(InputError, match=rf"sources\[0\]\.type: {kind} sources cannot be fetched"):
        checked({"sources": [{"type": kind, "source": "gs://b/o", "target": "d"}]})


@pytest.mark.parametrize(
    ("source", "url", "host", "ref"),
    [
        ("https://github.com/org/repo", "https://github.com/org/repo", "github.com", None),
        ("https://github.com/org/repo.git#v1.2", "https://github.com/org/repo.git", "github.com", "v1.2"),
        ("github.com/org/repo#feature/x", "https://github.com/org/repo", "github.com", "feature/x"),
        ("http://Repo.Test:8000/r.git#abc1234", "http://Repo.Test:8000/r.git", "repo.test", "abc1234"),
    ],
)
def test_repository_urls(source: str, url: str, host: str, ref: str | None) -> None:
    repo = repository(Source(type="repository", source=source, target="r"), "s")
    assert (repo.url, repo.host, repo.ref) == (url, host, ref)


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("ssh://git@github.com/org/repo", "only http"),
        ("file:///etc/passwd", "only http"),
        ("ext::sh -c id", "domain name"),
        ("http://127.0.0.1/r.git", "domain name"),
        ("http://169.254.169.254/latest", "domain name"),
        ("http://[::1]/r.git", "domain name"),
        ("http://localhost/r.git", "domain name"),
        ("https://user:token@github.com/org/repo", "credentials in the URL"),
        ("https://github.com/org/repo#--upload-pack=x", "invalid ref"),
        ("https://github.com/org/repo#a b", "invalid ref"),
    ],
)
def test_bad_repository_urls(source: str, why: str) -> None:
    with pytest.raises(InputError, match=why):
        checked({"sources": [{"type": "repository", "source": source, "target": "r"}]})


def test_env_literals_and_refusals() -> None:
    env = parse_environment({"env": {"A": "1", "B": {"value": "2"}}}, "environment")
    assert env.literal_env() == {"A": "1", "B": "2"}
    placeholder = parse_environment({"env": {"T": {"credential": "c"}}}, "environment")
    assert placeholder.literal_env() == {"T": "__GEMINI_CRED_c__"}
    with pytest.raises(InputError, match=r"environment\.env\.T: .*either 'value' or 'credential'"):
        parse_environment({"env": {"T": {"credential": "c", "value": "v"}}}, "environment")
    for name in ("HTTPS_PROXY", "no_proxy", "PATH", "PYTHONPATH", "LD_PRELOAD", "SANDBOXD_TOKEN"):
        with pytest.raises(InputError, match=rf"environment\.env\.{name}: {name} is set by the sandbox"):
            checked({"env": {name: "x"}})


def test_open_egress_is_the_operators_decision() -> None:
    star = {"network": {"allowlist": [{"domain": "pypi.org"}, {"domain": "*"}]}}
    refused = r"environment\.network\.allowlist\[1\]\.domain: '\*' \(open egress\)"
    with pytest.raises(InputError, match=refused):
        checked(star)
    checked(star, OPENED)
    assert CLOSED.default_network() == DISABLED
    assert OPENED.default_network() == OPEN


def test_rule_fields_that_cannot_be_applied_are_refused() -> None:
    bad = (("credential", "no spaces allowed"), ("transform", {"X": "y\r\nX-Evil: 1"}),
           ("transform", {"Bad Name": "y"}))
    for field, value in bad:
        with pytest.raises(InputError, match=rf"network\.allowlist\[0\]\.{field}"):
            parse_environment({"network": {"allowlist": [{"domain": "a.test", field: value}]}}, "environment")
    with pytest.raises(InputError, match=r"allowlist\[0\]: .*need a domain"):
        parse_environment({"network": {"allowlist": [{"domain": "*", "credential": "c"}]}}, "environment")
    rule = {"domain": "a.test", "credential": "c", "transform": [{"X": "1"}, {"Y": "2"}]}
    body = {"network": {"allowlist": [rule]}, "env": {"T": {"credential": "d"}}}
    env = parse_environment(body, "environment")
    assert env.credential_ids() == ["c", "d"]
    assert env.egress_injections() == {
        "egress_rules": [{"domain": "a.test", "credential": "c", "headers": (("X", "1"), ("Y", "2"))}],
        "egress_placeholders": ("d",),
    }


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(InputError, match=r"environment\.mode: Extra inputs"):
        parse_environment({"type": "remote", "mode": "x"}, "environment")


def test_agent_base_environment() -> None:
    network = {"allowlist": [{"domain": "*"}]}
    spec = AgentSpec.model_validate({"id": "a", "base_environment": {"network": network}})
    with pytest.raises(InputError, match=r"base_environment\.network\.allowlist\[0\]\.domain"):
        check_agent_environment(spec.base_environment, CLOSED)
    check_agent_environment(spec.base_environment, OPENED)
    check_agent_environment("env_1", CLOSED)  # an id: the agent service checks the project has it
    check_agent_environment(None, CLOSED)


def test_base_environment_env_reaches_the_sandbox_spec() -> None:
    spec = AgentSpec.model_validate({"id": "a", "base_environment": {"env": {"B": "2", "A": {"value": "1"}}}})
    assert spec.sandbox_spec().env == (("A", "1"), ("B", "2"))


def test_source_digest_is_stable_and_distinguishes() -> None:
    a = Source(type="inline", content="x", target="a")
    assert digest(a) == digest(Source(type="inline", content="x", target="/workspace/a"))
    assert digest(a) != digest(Source(type="inline", content="y", target="a"))


class _RecordingProvider(Provider):
    """Records the spec of the box it is asked for and refuses to make it."""

    name = "recording"

    def __init__(self) -> None:
        self.specs: list[SandboxSpec] = []

    async def create(self, spec: SandboxSpec) -> Sandbox:
        self.specs.append(spec)
        raise InfraError("not making boxes here")

    async def list(self) -> list[SandboxInfo]:
        return []

    async def remove(self, sandbox_id: str) -> None:
        return None


async def test_the_clone_box_may_reach_only_the_repository_host() -> None:
    provider = _RecordingProvider()
    base = SandboxSpec(network="none")
    provisioner = Provisioner(FileBoxes(provider, base), provider, base)
    source = Source(type="repository", source="https://Git.Example.org/org/repo#v1", target="/workspace/src")
    with pytest.raises(InfraError):
        await provisioner.place("hangar-ws-x", [source])
    (spec,) = provider.specs
    assert (spec.network, spec.allowed_domains, spec.workspace_volume) == (
        "allowlist", ("git.example.org",), "hangar-ws-x"
    )
