"""The Docker provider's pure parts: hardened settings, exit reasons, error mapping."""

from __future__ import annotations

import os
from pathlib import Path

import docker.errors
import pytest
import requests.exceptions

from runtime.errors import EngineUnavailable, ImageMissing, InfraError, NotFound
from runtime.sandbox import engine as eng
from runtime.sandbox.base import Mount, SandboxSpec
from runtime.sandbox.reaper import Owned


def _where(**overrides: object) -> eng.Placement:
    values: dict[str, object] = {
        "sandbox_id": "abc123", "namespace": "ns1", "token": "secret", "socket_dir": Path("/s/abc123"),
        "workspace_volume": "hangar-ws-abc123", "network": "none", "runtime": None, "init": True,
    }
    values.update(overrides)
    return eng.Placement(**values)  # type: ignore[arg-type]


def test_container_is_hardened_by_default() -> None:
    spec = SandboxSpec(memory_mb=256, cpus=0.5, pids_limit=64, env=(("A", "1"),))
    kw = eng.container_kwargs(spec, _where())
    assert kw["user"] == "1000:1000"
    assert kw["cap_drop"] == ["ALL"]
    assert kw["security_opt"] == ["no-new-privileges"]
    assert kw["read_only"] is True
    assert kw["network_mode"] == "none"
    assert kw["mem_limit"] == kw["memswap_limit"] == 256 * eng.MB
    assert kw["nano_cpus"] == 500_000_000
    assert kw["pids_limit"] == 64
    assert set(kw["tmpfs"]) == {"/tmp", "/home/agent"}
    # The token reaches the box in a file of its socket directory, never in an environment.
    assert kw["environment"] == {"A": "1", "SANDBOXD_TOKEN_FILE": "/run/sandboxd/token"}
    assert "secret" not in repr(kw)
    assert "runtime" not in kw and "entrypoint" not in kw
    targets = {m["Target"]: m for m in kw["mounts"]}
    assert set(targets) == {"/workspace", "/run/sandboxd"}
    assert not any("docker.sock" in str(m.get("Source")) for m in kw["mounts"])


def test_hangar_labels_win_over_spec_labels() -> None:
    spec = SandboxSpec(labels=(("hangar.namespace", "other"), ("team", "x")))
    labels = eng.container_kwargs(spec, _where())["labels"]
    assert labels["hangar.namespace"] == "ns1"
    assert labels["hangar.managed"] == "1"
    assert labels["hangar.sandbox_id"] == "abc123"
    assert labels["hangar.spec_key"] == spec.key()
    assert labels["team"] == "x"


def test_spec_token_cannot_override_the_sandbox_token() -> None:
    spec = SandboxSpec(env=(("SANDBOXD_TOKEN", "mine"), ("SANDBOXD_TOKEN_FILE", "/workspace/t")))
    env = eng.container_kwargs(spec, _where())["environment"]
    assert env["SANDBOXD_TOKEN_FILE"] == "/run/sandboxd/token"  # sandboxd prefers the file


def test_token_file_is_private_to_the_box_user(tmp_path: Path) -> None:
    eng.write_token_file(tmp_path, "secret")
    path = tmp_path / eng.TOKEN_FILE
    assert path.read_text() == "secret"
    st = path.stat()
    if os.getuid() == 0:
        assert (st.st_uid, st.st_mode & 0o777) == (eng.SANDBOX_UID, 0o600)
    with pytest.raises(FileExistsError):
        eng.write_token_file(tmp_path, "again")


def test_runtime_mounts_and_entrypoint_pass_through() -> None:
    spec = SandboxSpec(mounts=(Mount(source="/data", target="/data"),))
    kw = eng.container_kwargs(spec, _where(runtime="runsc", entrypoint=["false"], network="hangar-egress"))
    assert kw["runtime"] == "runsc"
    assert kw["entrypoint"] == ["false"]
    assert kw["network_mode"] == "hangar-egress"
    data = next(m for m in kw["mounts"] if m["Target"] == "/data")
    assert data["ReadOnly"] is True


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ({"Status": "running"}, None),
        ({"Status": "paused"}, None),
        ({"Status": "exited", "OOMKilled": True, "ExitCode": 137}, "killed: out of memory (limit 256 MB)"),
        ({"Status": "exited", "ExitCode": 3}, "exited with code 3"),
        ({"Status": "exited", "ExitCode": 127, "Error": "no such"}, "exited with code 127: no such"),
        ({"Status": "created"}, "not running (state created)"),
    ],
)
def test_describe_exit(state: dict[str, object], reason: str | None) -> None:
    assert eng.describe_exit({"State": state}, 256) == reason


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (docker.errors.ImageNotFound("no such image"), ImageMissing),
        (docker.errors.NotFound("no such container"), NotFound),
        (docker.errors.APIError("conflict"), InfraError),
        (requests.exceptions.ConnectionError("refused"), EngineUnavailable),
        (docker.errors.DockerException("Error while fetching server API version"), EngineUnavailable),
    ],
)
def test_engine_errors_are_mapped(raised: Exception, expected: type[Exception]) -> None:
    with pytest.raises(expected) as info, eng.engine_errors("create"):
        raise raised
    assert info.value.__cause__ is raised


def test_image_missing_says_how_to_build() -> None:
    with pytest.raises(ImageMissing, match="hangar images build"), eng.engine_errors("create"):
        raise docker.errors.ImageNotFound("no such image")


def test_owned_by_checks_namespace_and_managed() -> None:
    assert eng.owned_by({"hangar.managed": "1", "hangar.namespace": "a"}, "a")
    assert not eng.owned_by({"hangar.managed": "1", "hangar.namespace": "b"}, "a")
    assert not eng.owned_by({"hangar.namespace": "a"}, "a")
    assert not eng.owned_by(None, "a")


def test_reaper_spares_tracked_ids() -> None:
    owned = Owned({"c1": "a", "c2": "b"}, {"v1": "a", "v2": "b"}, {Path("/s/a"): "a", Path("/s/b"): "b"})
    orphans = owned.without({"a"})
    assert orphans.containers == {"c2": "b"}
    assert orphans.volumes == {"v2": "b"}
    assert list(orphans.socket_dirs) == [Path("/s/b")]
    assert owned.only("a").containers == {"c1": "a"}
    assert not Owned()


def test_egress_box_gets_its_proxy_socket_read_only_and_no_network() -> None:
    from runtime.sandbox.egress import box_environment, proxy_container_kwargs

    box_dir = Path("/s/egress-proxy/boxes/abc123")
    where = _where(egress_dir=box_dir, proxy_env=tuple(box_environment().items()))
    kw = eng.container_kwargs(SandboxSpec(network="allowlist", allowed_domains=("pypi.org",)), where)
    assert kw["network_mode"] == "none" and "dns" not in kw
    egress = next(m for m in kw["mounts"] if m["Target"] == "/run/egress")
    assert (egress["Source"], egress["ReadOnly"]) == (str(box_dir), True)
    assert kw["environment"]["HTTPS_PROXY"] == "http://127.0.0.1:3128"
    assert kw["environment"]["SANDBOXD_EGRESS_SOCKET"] == "/run/egress/proxy.sock"
    proxy = proxy_container_kwargs("img", namespace="ns1", name="p", state_dir=Path("/s/e"), network="n",
                                   runtime=None, init=True)
    modes = {m["Target"]: (m["Source"], m["ReadOnly"]) for m in proxy["mounts"]}
    assert modes == {"/run/egress/policy": ("/s/e/policy", True), "/run/egress/boxes": ("/s/e/boxes", False)}
    assert proxy["user"] == "65534:65534" and proxy["cap_drop"] == ["ALL"] and proxy["read_only"] is True
