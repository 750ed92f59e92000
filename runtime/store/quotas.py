"""Per-project limits on runs, checked where a run is inserted, and on workspace storage.

``max_running``: interactions ``in_progress`` (queued or running) of the project; ``max_agent_runs``:
the project's live boxes: agent interactions ``in_progress`` (each holds a box while it runs) plus
``live_boxes``, the project's other live boxes the server counted (kept warm, serving files; see
:mod:`runtime.service.live_boxes`). The count runs in the
inserting transaction, after the insert, so that it includes every concurrent create that got
there first: on SQLite the insert takes the database's write lock; on PostgreSQL creates of one
project are serialised with a transaction-scoped advisory lock. Over a limit, the transaction
rolls back (nothing was created).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from runtime.errors import QuotaExceeded
from runtime.store.environments import project_usage
from runtime.store.records import InteractionRecord
from runtime.store.schema import interactions

RUNNING = "in_progress"


@dataclass(frozen=True)
class RunLimits:
    max_running: int | None = None
    """``HANGAR_PROJECT_MAX_RUNNING_INTERACTIONS``."""
    max_agent_runs: int | None = None
    """``HANGAR_PROJECT_MAX_LIVE_BOXES``."""
    live_boxes: int = 0
    """The project's live boxes besides its agent runs' (kept warm, file boxes), counted with them."""
    max_workspace_bytes: int | None = None
    """``HANGAR_PROJECT_MAX_WORKSPACE_BYTES``: a new agent run is refused while the project's
    measured workspaces have reached it (no byte left to write)."""
    retry_after: float = 5.0


async def lock_project(conn: AsyncConnection, record: InteractionRecord, limits: RunLimits) -> None:
    """Serialise the limited creates of ``record``'s project (PostgreSQL; before the insert)."""
    if conn.dialect.name == "postgresql" and (limits.max_running or limits.max_agent_runs):
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"runs:{record.project_id}"}
        )


async def check_run_limits(conn: AsyncConnection, record: InteractionRecord, limits: RunLimits) -> None:
    """Raise :class:`QuotaExceeded` when inserting ``record`` (done, in ``conn``'s transaction)
    took its project past a limit."""
    mine = (interactions.c.project_id == record.project_id, interactions.c.status == RUNNING)
    if limits.max_running is not None:
        running = int(await conn.scalar(select(func.count()).where(*mine)) or 0) - 1
        if running >= limits.max_running:
            raise QuotaExceeded(
                f"project limit reached: {running} interactions in progress, the most "
                f"HANGAR_PROJECT_MAX_RUNNING_INTERACTIONS allows ({limits.max_running}); "
                "retry once some finished",
                retry_after=limits.retry_after,
            )
    if limits.max_workspace_bytes is not None and record.kind == "agent":
        used = await project_usage(conn, record.project_id)
        if used >= limits.max_workspace_bytes:
            raise workspace_exceeded(used, 0, limits.max_workspace_bytes, limits.retry_after)
    if limits.max_agent_runs is not None and record.kind == "agent":
        agents = int(
            await conn.scalar(select(func.count()).where(*mine, interactions.c.kind == "agent")) or 0
        ) - 1
        if agents + limits.live_boxes >= limits.max_agent_runs:
            raise live_boxes_exceeded(agents, limits.live_boxes, limits.max_agent_runs, limits.retry_after)


def live_boxes_exceeded(runs: int, others: int, limit: int, retry_after: float) -> QuotaExceeded:
    """The refusal of one more box when the project has ``runs`` agent runs in progress and
    ``others`` other live boxes (kept warm, serving files) and the limit is ``limit``."""
    return QuotaExceeded(
        f"project limit reached: {runs + others} live boxes ({runs} agent runs in progress, {others} "
        f"kept warm or serving files), the most HANGAR_PROJECT_MAX_LIVE_BOXES allows ({limit}); "
        "retry once some finished",
        retry_after=retry_after,
    )


def workspace_exceeded(used: int, incoming: int, limit: int, retry_after: float) -> QuotaExceeded:
    """The refusal of ``incoming`` more bytes (0: a new agent run) when the project's workspaces
    use ``used`` bytes (as last measured) and the limit is ``limit``."""
    what = f"{incoming} more bytes would pass" if incoming else "no room is left under"
    return QuotaExceeded(
        f"project limit reached: the project's workspaces use {used} bytes (as last measured); "
        f"{what} HANGAR_PROJECT_MAX_WORKSPACE_BYTES ({limit}); free space (delete files or "
        "environments) and retry",
        retry_after=retry_after,
    )
