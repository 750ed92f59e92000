"""The egress proxy's container and network on the engine: hardened like a box, alone on its
namespace's bridge (see :mod:`runtime.sandbox.egress`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.errors import InfraError
from runtime.sandbox import engine as eng

PROXY_ID = "egress-proxy"
"""The proxy's ``hangar.sandbox_id`` label and state directory name (the reaper keys on it)."""
PROXY_UID = 65534
"""The proxy's user: none of a box's."""
POLICY_MOUNT = "/run/egress/policy"
BOXES_MOUNT = "/run/egress/boxes"
IDLE_EXIT_S = 300.0


def proxy_container_kwargs(
    image: str, *, namespace: str, name: str, state_dir: Path, network: str, runtime: str | None, init: bool,
    owner: str | None = None,
) -> dict[str, Any]:
    """``containers.create`` arguments of the proxy: hardened like a box, small limits, its policy
    read-only."""
    from docker.types import Mount

    kwargs: dict[str, Any] = {
        "image": image,
        "name": name,
        "entrypoint": ["/opt/venv/bin/python", "-I", "-u", "-m", "runtime.sandboxd.egress_proxy"],
        "working_dir": "/opt/hangar",
        "hostname": "egress-proxy",
        "user": f"{PROXY_UID}:{PROXY_UID}",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": 64,
        "mem_limit": 256 * eng.MB,
        "memswap_limit": 256 * eng.MB,
        "nano_cpus": int(1e9),
        "read_only": True,
        "tmpfs": {"/tmp": "rw,noexec,nosuid,nodev,size=16m,mode=1777"},
        "mounts": [
            Mount(POLICY_MOUNT, str(state_dir / "policy"), type="bind", read_only=True),
            Mount(BOXES_MOUNT, str(state_dir / "boxes"), type="bind", read_only=False),
        ],
        "network_mode": network,
        "init": init,
        "labels": {
            eng.LABEL_MANAGED: "1", eng.LABEL_NAMESPACE: namespace, eng.LABEL_ID: PROXY_ID,
            eng.LABEL_ROLE: PROXY_ID, **eng.owner_label(owner),
        },
        "environment": {
            "EGRESS_POLICY_DIR": POLICY_MOUNT, "EGRESS_BOXES_DIR": BOXES_MOUNT,
            "EGRESS_IDLE_EXIT_S": str(IDLE_EXIT_S),
        },
    }
    if runtime:
        kwargs["runtime"] = runtime
    return kwargs


def ensure_network(client: Any, name: str, namespace: str, owner: str | None = None) -> None:
    """The namespace's egress bridge (only the proxy joins it), created on first use."""
    import docker.errors

    try:
        attrs = client.api.inspect_network(name)
    except docker.errors.NotFound:
        labels = {
            eng.LABEL_MANAGED: "1", eng.LABEL_NAMESPACE: namespace, eng.LABEL_ID: PROXY_ID,
            **eng.owner_label(owner),
        }
        client.api.create_network(
            name, driver="bridge", check_duplicate=True, labels=labels,
            options={"com.docker.network.bridge.enable_icc": "false"},
        )
        return
    if not eng.owned_by(attrs.get("Labels"), namespace):
        raise InfraError(f"network {name} exists but is not Hangar's egress network of {namespace}")
