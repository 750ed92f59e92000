"""The workspace quota of running boxes, enforced by the host.

Docker's local volumes have no size option on overlay2 (and ``--storage-opt size`` covers only the
container's own layer, on xfs with project quotas), so the engine cannot cap a workspace. Instead
the host measures it: every ``interval_s`` a throwaway container mounts the box's volume read-only
and walks it (``runtime/sandboxd/usage.py`` from the image, in Python's isolated mode, as root with
only ``CAP_DAC_READ_SEARCH`` so a mode-000 folder cannot hide anything, no network). The box cannot
answer for that container. A box found past its quota is stopped; its run fails with the reason.

What this does not do: stop a box the moment it passes the quota. Between two checks it can write
as fast as the disk allows; the quota bounds how long a workspace stays over it, not by how much.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from runtime.sandbox import engine as eng
from runtime.sandbox.base import SandboxState
from runtime.sandboxd.usage import Usage

log = structlog.get_logger(__name__)

USAGE_SCRIPT = "/opt/hangar/runtime/sandboxd/usage.py"
"""Where the image carries the measuring script (the image's own copy of Hangar)."""
MOUNT = "/w"

UsageCallback = Callable[[str, int], Awaitable[None]]


def measure_volume(
    client: Any, image: str, volume: str, *, labels: dict[str, str], runtime: str | None,
    stop_bytes: int, stop_entries: int,
) -> Usage:
    """Blocking: the volume's usage, measured in a throwaway container (see the module docstring)."""
    output = client.containers.run(
        image,
        entrypoint=["/usr/bin/python3", "-I", USAGE_SCRIPT, MOUNT, str(stop_bytes), str(stop_entries)],
        volumes={volume: {"bind": MOUNT, "mode": "ro"}},
        working_dir="/", user="0", network_mode="none", read_only=True,
        cap_drop=["ALL"], cap_add=["DAC_READ_SEARCH"], security_opt=["no-new-privileges"],
        mem_limit="128m", pids_limit=16, labels=labels, runtime=runtime,
        remove=True, stdout=True, stderr=False,
    )
    data = json.loads(output.decode().strip().splitlines()[-1])
    return Usage(bytes=int(data["bytes"]), entries=int(data["entries"]), complete=bool(data["complete"]))


def measure_labels(namespace: str, sandbox_id: str, owner: str | None) -> dict[str, str]:
    """The labels of a box's measuring container: its namespace and its box's owner (a node's
    reaper takes an unlabelled one for a dead node's)."""
    return {
        eng.LABEL_MANAGED: "1", eng.LABEL_NAMESPACE: namespace, eng.LABEL_ID: f"quota-{sandbox_id}",
        eng.LABEL_ROLE: "quota", **eng.owner_label(owner),
    }


def over_quota(usage: Usage, quota_bytes: int | None, quota_entries: int | None) -> str | None:
    """Why ``usage`` is past the quota, or ``None``."""
    if quota_bytes is not None and usage.bytes > quota_bytes:
        return (
            f"exceeded its workspace quota: the workspace uses {usage.bytes} bytes or more, the quota is "
            f"{quota_bytes} (HANGAR_WORKSPACE_QUOTA_BYTES)"
        )
    if quota_entries is not None and usage.entries > quota_entries:
        return (
            f"exceeded its workspace quota: the workspace holds {usage.entries} entries or more, the quota "
            f"is {quota_entries} (HANGAR_WORKSPACE_QUOTA_ENTRIES)"
        )
    return None


class QuotaWatcher:
    """One task per box with a quota; the task ends when its box stops."""

    def __init__(self, engine: eng.Engine, namespace: str, interval_s: float | None) -> None:
        self._engine = engine
        self._namespace = namespace
        self._interval = interval_s
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_usage: UsageCallback | None = None
        """Told each measurement (the workspace volume's name, its bytes), e.g. to record it."""

    def watch(self, box: Any) -> None:
        """Start watching ``box`` (a ``DockerSandbox``) if its spec has a quota."""
        spec = box.spec
        if self._interval is None or (spec.disk_quota_bytes is None and spec.disk_quota_entries is None):
            return
        task = asyncio.create_task(self._run(box, self._interval))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, box: Any, interval_s: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(box.wait_stopped(), interval_s)
                return
            if box.state is not SandboxState.READY:
                continue  # paused boxes write nothing; starting/stopping ones are someone else's
            reason = await self.check(box)
            if reason is not None:
                box.log.warning("stopping sandbox: workspace quota", reason=reason)
                await box.kill(reason)
                return

    async def _report(self, box: Any, usage: Usage) -> None:
        if self.on_usage is None:
            return
        try:
            await self.on_usage(box.where.workspace_volume, usage.bytes)
        except Exception as e:  # the store is down: the quota check itself still counts
            box.log.warning("workspace usage not recorded", error=str(e)[:300])

    async def check(self, box: Any) -> str | None:
        """Measure ``box``'s workspace once: why it is over its quota, or ``None`` (also when the
        measurement failed: that is logged and tried again at the next interval)."""
        spec = box.spec
        labels = measure_labels(self._namespace, box.id, box.where.owner)
        try:
            usage = await self._engine.run(
                measure_volume, self._engine.client, spec.image, box.where.workspace_volume,
                labels=labels, runtime=box.where.runtime,
                stop_bytes=spec.disk_quota_bytes or 2**62, stop_entries=spec.disk_quota_entries or 2**62,
            )
        except Exception as e:  # docker's ContainerError, a garbled line: try again next time
            box.log.warning("workspace quota check failed", error=str(e)[:300])
            return None
        await self._report(box, usage)
        return over_quota(usage, spec.disk_quota_bytes, spec.disk_quota_entries)
