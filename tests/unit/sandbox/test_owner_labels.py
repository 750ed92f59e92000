"""Owner labels: on every box, volume and the egress proxy; a spec cannot forge one; workspace
volumes are never taken for a box's."""

from __future__ import annotations

from pathlib import Path

from runtime.sandbox import engine as eng
from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.egress import proxy_container_kwargs


def _where(owner: str | None) -> eng.Placement:
    return eng.Placement(
        sandbox_id="abc123", namespace="ns1", token="t", socket_dir=Path("/s/abc123"),
        workspace_volume="hangar-ws-abc123", network="none", runtime=None, init=True, owner=owner,
    )


def test_boxes_carry_their_owner_and_a_spec_cannot_forge_one() -> None:
    spec = SandboxSpec(labels=((eng.LABEL_OWNER, "node-forged"),))
    assert eng.container_kwargs(spec, _where("node-1"))["labels"][eng.LABEL_OWNER] == "node-1"
    assert eng.LABEL_OWNER not in eng.container_kwargs(spec, _where(None))["labels"]


def test_workspace_volumes_are_labelled_without_a_sandbox_id() -> None:
    labels = eng.workspace_labels("ns1", "node-1")
    assert labels == {
        eng.LABEL_MANAGED: "1", eng.LABEL_NAMESPACE: "ns1", eng.LABEL_ROLE: eng.ROLE_WORKSPACE,
        eng.LABEL_OWNER: "node-1",
    }


def test_the_egress_proxy_carries_its_starters_owner() -> None:
    kw = proxy_container_kwargs(
        "img", namespace="ns1", name="p", state_dir=Path("/s/e"), network="n", runtime=None, init=True,
        owner="node-1",
    )
    assert kw["labels"][eng.LABEL_OWNER] == "node-1"
    assert kw["labels"][eng.LABEL_NAMESPACE] == "ns1"


def test_daemon_env_reaches_sandboxd() -> None:
    where = _where("node-1")
    import dataclasses

    where = dataclasses.replace(where, daemon_env=(("SANDBOXD_TCP_PORT", "7443"),))
    env = eng.container_kwargs(SandboxSpec(), where)["environment"]
    assert env["SANDBOXD_TCP_PORT"] == "7443"


def test_a_commands_boxes_carry_an_owner_of_their_own(tmp_path: Path) -> None:
    from runtime.config import Settings
    from runtime.service.sandboxes import command_provider, docker_backend

    owners = set()
    for _ in range(2):
        backend = docker_backend(command_provider(Settings(data_dir=tmp_path)))
        assert backend is not None
        owners.add(backend.config.owner)
    assert len(owners) == 2 and all(str(o).startswith("cli-") for o in owners), owners


def test_a_quota_measurement_carries_its_boxs_owner() -> None:
    from runtime.sandbox.quota import measure_labels

    labels = measure_labels("ns1", "abc123", "node-1")
    assert (labels[eng.LABEL_NAMESPACE], labels[eng.LABEL_OWNER]) == ("ns1", "node-1")
    assert eng.owned_by(labels, "ns1")
