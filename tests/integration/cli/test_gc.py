"""``hangar gc`` in a subprocess against a real engine and store: ``--dry-run`` lists expired
environments, orphan workspace volumes and a dead node's boxes and removes nothing; ``hangar gc``
removes them, and keeps a live node's box and a live environment's volume. Unlabelled workspaces
whose environment this store has no row for stay unless ``--include-unknown`` is given."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

import docker
import pytest
from cli_harness import hangar

from runtime.sandbox import engine as eng
from runtime.store import EnvironmentRecord, NodeRecord, Store
from runtime.worker.agent_runner import workspace_volume

pytestmark = pytest.mark.docker


async def _seed(url: str, namespace: str) -> None:
    store = Store(url)
    await store.open()
    now = time.time()
    try:
        for env_id, when in (("env_old", now - 3600), ("env_live", now)):
            await store.environments.insert(EnvironmentRecord(
                project_id="default", id=env_id, config={}, volume=f"{namespace}-ws-{env_id}",
                created=when, updated=when,
            ))
        await store.nodes.register(NodeRecord("node-dead", namespace, "h", now - 7200, now - 3600))
        await store.nodes.register(NodeRecord("node-live", namespace, "h", now, now + 3600))
    finally:
        await store.close()


def _box(
    client: Any, image: str, namespace: str, owner: str, workspace: str | None = None
) -> tuple[str, str]:
    sandbox_id = secrets.token_hex(6)
    labels = {
        eng.LABEL_MANAGED: "1", eng.LABEL_NAMESPACE: namespace, eng.LABEL_ID: sandbox_id,
        eng.LABEL_OWNER: owner,
    }
    volume = f"{namespace}-box-{sandbox_id}"
    client.volumes.create(volume, labels=labels)
    container = client.containers.create(
        image, entrypoint=["sleep", "60"], labels=labels, network_mode="none",
        name=f"{namespace}-{sandbox_id}",
        volumes={workspace: {"bind": "/workspace", "mode": "rw"}} if workspace else None,
    )
    return container.id, volume


def _exists(client: Any, kind: str, name: str) -> bool:
    try:
        (client.containers if kind == "container" else client.volumes).get(name)
    except docker.errors.NotFound:
        return False
    return True


async def test_gc_dry_run_lists_and_gc_removes(
    tmp_path: Path, docker_client: Any, sandbox_image: str
) -> None:
    namespace = f"test-gc-{secrets.token_hex(3)}"
    env = {
        **os.environ, "HANGAR_DATA_DIR": str(tmp_path), "HANGAR_SANDBOX_NAMESPACE": namespace,
        "HANGAR_ENVIRONMENT_RETENTION_SECONDS": "600", "HANGAR_NODE_DEAD_AFTER_SECONDS": "30",
    }
    await _seed(f"sqlite+aiosqlite:///{tmp_path / 'hangar.db'}", namespace)
    for env_id in ("env_old", "env_live"):
        eng.ensure_workspace_volume(docker_client, f"{namespace}-ws-{env_id}", namespace, "node-dead")
    orphan = f"{namespace}-ws-orphan"
    eng.ensure_workspace_volume(docker_client, orphan, namespace, "node-dead")
    dead_box, dead_volume = _box(docker_client, sandbox_image, namespace, "node-dead")
    # A live node's pre-started box: its workspace names an environment not made yet (no orphan).
    pooled = f"{namespace}-ws-pooled"
    eng.ensure_workspace_volume(docker_client, pooled, namespace, "node-live")
    live_box, live_volume = _box(docker_client, sandbox_image, namespace, "node-live", workspace=pooled)
    try:
        dry = await hangar("gc", "--dry-run", env=env)
        assert dry.code == 0, dry.stderr
        out = " ".join(dry.stdout.split())
        assert f"would remove expired environment env_old (volume {namespace}-ws-env_old)" in out
        assert f"would remove orphan volume {orphan}" in out
        assert f"would remove dead node's container {dead_box[:12]}" in out and "owner node-dead" in out
        assert f"would remove dead node's volume {dead_volume}" in out
        assert "env_live" not in out and live_box[:12] not in out and live_volume not in out
        assert pooled not in out
        assert "dry run: nothing was removed" in out
        for kind, name in (("volume", f"{namespace}-ws-env_old"), ("volume", orphan), ("container", dead_box),
                           ("volume", dead_volume)):
            assert _exists(docker_client, kind, name), f"the dry run removed {name}"

        done = await hangar("gc", env=env)
        assert done.code == 0, done.stderr
        out = " ".join(done.stdout.split())
        assert "removed expired environment env_old" in out and f"removed orphan volume {orphan}" in out
        for kind, name in (("volume", f"{namespace}-ws-env_old"), ("volume", orphan), ("container", dead_box),
                           ("volume", dead_volume)):
            assert not _exists(docker_client, kind, name), f"gc left {name}"
        kept = (
            ("volume", f"{namespace}-ws-env_live"), ("container", live_box), ("volume", live_volume),
            ("volume", pooled),
        )
        for kind, name in kept:
            assert _exists(docker_client, kind, name), f"gc removed {name}"
        again = await hangar("gc", "--dry-run", env=env)
        assert f"nothing to remove in namespace {namespace}" in " ".join(again.stdout.split())
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(live_box).remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(dead_box).remove(force=True)
        envs = (f"{namespace}-ws-env_live", f"{namespace}-ws-env_old")
        for name in (live_volume, dead_volume, orphan, pooled, *envs):
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.volumes.get(name).remove(force=True)


def _old_way(client: Any, image: str, name: str, *, keep_user: bool = False) -> str | None:
    """A workspace volume as Hangar made them before the labels: created by the engine when a box
    first mounted it, with no label at all. Returns the container kept using it, if asked."""
    container = client.containers.create(
        image, entrypoint=["true"], network_mode="none", volumes={name: {"bind": "/workspace", "mode": "rw"}},
    )
    assert client.api.inspect_volume(name).get("Labels") in (None, {})
    if keep_user:
        return str(container.name)
    container.remove(force=True)
    return None


async def _seed_unlabelled(url: str, ids: dict[str, str]) -> None:
    """Live and expired environments, and an environment only interactions name (no row)."""
    from runtime.store import InteractionRecord

    store = Store(url)
    await store.open()
    now = time.time()
    try:
        for key in ("live", "expired"):
            await store.environments.insert(EnvironmentRecord(
                project_id="default", id=ids[key], config={}, volume=workspace_volume(ids[key]),
                created=now, updated=now,
            ))
        assert await store.environments.expire(ids["expired"], now + 1, now + 1)
        await store.interactions.insert(InteractionRecord(
            id="int_" + secrets.token_hex(12), project_id="default", kind="agent", target="antigravity",
            status="completed", input=[], config={}, previous_interaction_id=None,
            environment_id=ids["named"], usage=None, errors=None, background=True, store=True,
            created=now, updated=now,
        ), {"event_type": "interaction.created"})
    finally:
        await store.close()


async def test_gc_attributes_unlabelled_workspace_volumes_by_their_name(
    tmp_path: Path, docker_client: Any, sandbox_image: str
) -> None:
    namespace = f"test-gc-{secrets.token_hex(3)}"
    url = f"sqlite+aiosqlite:///{tmp_path / 'hangar.db'}"
    env = {**os.environ, "HANGAR_DATA_DIR": str(tmp_path), "HANGAR_SANDBOX_NAMESPACE": namespace}
    ids = {k: f"env_{secrets.token_hex(8)}" for k in ("before", "gone", "expired", "live", "named", "used")}
    volumes = {k: workspace_volume(v) for k, v in ids.items()}
    foreign = f"hangar-ws-env_{secrets.token_hex(8)}-00000000"  # Hangar-like, but not Hangar's name
    users: list[str] = []
    try:
        _old_way(docker_client, sandbox_image, volumes["before"])  # made before this store began
        await asyncio.sleep(1.5)  # (the engine's volume times have whole seconds)
        await _seed_unlabelled(url, ids)
        for key in ("gone", "expired", "live", "named"):
            _old_way(docker_client, sandbox_image, volumes[key])
        _old_way(docker_client, sandbox_image, foreign)
        users.append(str(_old_way(docker_client, sandbox_image, volumes["used"], keep_user=True)))

        unknown = "in this store (--include-unknown removes it)"
        dry = await hangar("gc", "--dry-run", env=env)
        assert dry.code == 0, dry.stderr
        out = " ".join(dry.stdout.split())
        # By default only a volume whose environment row here expired goes: one with no row may be
        # another deployment's (with a store of its own) on this shared engine.
        expected = [
            f"would remove unlabelled volume {volumes['expired']} (environment {ids['expired']} expired)",
            f"kept unlabelled volume {volumes['live']}: environment {ids['live']} is live",
            *(f"kept unlabelled volume {volumes[k]}: no environment {ids[k]} {unknown}"
              for k in ("gone", "named", "used", "before")),
        ]
        for line in expected:
            assert line in out, (line, dry.stdout)
        assert foreign not in out and "dry run: nothing was removed" in out
        for name in [*volumes.values(), foreign]:
            assert _exists(docker_client, "volume", name), f"the dry run removed {name}"

        done = await hangar("gc", env=env)
        assert done.code == 0, done.stderr
        assert f"removed unlabelled volume {volumes['expired']}" in " ".join(done.stdout.split()), done.stdout
        for key, name in volumes.items():
            assert _exists(docker_client, "volume", name) == (key != "expired"), (key, done.stdout)

        dry = await hangar("gc", "--dry-run", "--include-unknown", env=env)
        assert dry.code == 0, dry.stderr
        out = " ".join(dry.stdout.split())
        expected = [
            f"would remove unlabelled volume {volumes['gone']} (no environment {ids['gone']} in the store)",
            f"kept unlabelled volume {volumes['live']}: environment {ids['live']} is live",
            f"kept unlabelled volume {volumes['named']}: interactions of environment {ids['named']} "
            "are stored",
            f"kept unlabelled volume {volumes['used']}: no environment {ids['used']} in the store, "
            f"but container {users[0]} uses it",
            f"kept unlabelled volume {volumes['before']}: no environment {ids['before']} in the store, "
            "but the volume is older than the store",
        ]
        for line in expected:
            assert line in out, (line, dry.stdout)
        assert foreign not in out and "dry run: nothing was removed" in out
        assert _exists(docker_client, "volume", volumes["gone"]), "the dry run removed it"

        done = await hangar("gc", "--include-unknown", env=env)
        assert done.code == 0, done.stderr
        assert f"removed unlabelled volume {volumes['gone']}" in " ".join(done.stdout.split()), done.stdout
        for key, name in volumes.items():
            kept = key not in ("gone", "expired")
            assert _exists(docker_client, "volume", name) == kept, (key, done.stdout)
        assert _exists(docker_client, "volume", foreign)
        helped = await hangar("gc", "--help", env=env)
        assert "--include-unknown" in helped.stdout
    finally:
        for name in users:
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.containers.get(name).remove(force=True)
        for name in [*volumes.values(), foreign]:
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.volumes.get(name).remove(force=True)
