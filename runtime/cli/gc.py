"""``hangar gc``: remove what the server's namespace left behind on this engine (``--dry-run``
lists it and removes nothing). See :mod:`runtime.service.gc` for what counts as a leftover."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from runtime.cli.common import fail_on_hangar_error
from runtime.config import Settings
from runtime.sandbox.engine import Engine
from runtime.service.gc import Collector, GcReport
from runtime.store import Store

console = Console()


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    include_unknown: Annotated[
        bool, typer.Option(
            "--include-unknown",
            help="Also remove unlabelled workspace volumes whose environment this store has no row for "
            "(kept by default: on a shared engine they may be another deployment's).",
        ),
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="State directory (default: HANGAR_DATA_DIR).")
    ] = None,
) -> None:
    """Remove expired environments, orphan workspace volumes, dead nodes' boxes and unlabelled
    workspace volumes of expired environments."""
    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    with fail_on_hangar_error():
        report = asyncio.run(_run(settings, dry_run, include_unknown))
    _print(report, settings.sandbox_namespace, dry_run)


async def _run(settings: Settings, dry_run: bool, include_unknown: bool) -> GcReport:
    store = Store(settings.resolved_database_url)
    await store.open()
    engine = Engine(max_workers=4)
    try:
        await engine.connect()
        collector = Collector(settings, store, engine, include_unknown=include_unknown)
        return await (collector.plan() if dry_run else collector.collect())
    finally:
        await engine.close()
        await store.close()


def _print(report: GcReport, namespace: str, dry_run: bool) -> None:
    verb = "would remove" if dry_run else "removed"
    for env_id, volume in sorted(report.expired_environments.items()):
        console.print(f"{verb} expired environment {env_id} (volume {volume})")
    for name in report.orphan_volumes:
        console.print(f"{verb} orphan volume {name}")
    boxes = report.dead_boxes
    for container_id, sandbox_id in sorted(boxes.containers.items(), key=lambda kv: kv[1]):
        owner = f"owner {report.owners.get(sandbox_id)}" if report.owners.get(sandbox_id) else "no owner"
        console.print(f"{verb} dead node's container {container_id[:12]} (sandbox {sandbox_id}, {owner})")
    for name in sorted(boxes.volumes):
        console.print(f"{verb} dead node's volume {name}")
    for name in sorted(boxes.networks):
        console.print(f"{verb} dead node's network {name}")
    for path in sorted(boxes.socket_dirs):
        console.print(f"{verb} socket directory {path}")
    for found in report.unlabelled:
        if found.remove:
            console.print(f"{verb} unlabelled volume {found.volume} ({found.reason})")
        else:
            console.print(f"kept unlabelled volume {found.volume}: {found.reason}")
    for what, why in sorted(report.failed.items()):
        console.print(f"kept {what}: {why}")
    if report.empty():
        console.print(f"nothing to remove in namespace {namespace}")
    elif dry_run:
        console.print("dry run: nothing was removed")
