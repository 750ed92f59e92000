"""Live events across processes: a ``LISTEN`` on PostgreSQL's :data:`EVENTS_CHANNEL`.

Every process sharing the database announces each event it appends (``NOTIFY`` in the appending
transaction, delivered at commit: :meth:`InteractionRepo.append_event`). One dedicated asyncpg
connection per process listens and hands the events that somebody here follows to ``on_event``;
an event too large for the notification is read from the log. When the connection drops, it is
opened again (readers still re-read the log every poll interval meanwhile, so nothing is missed,
only late). SQLite has no such channel: one process per file, whose own broker sees everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs
import structlog
from sqlalchemy.engine import make_url

from runtime.store.interactions import EVENTS_CHANNEL, InteractionRepo
from runtime.store.records import StoredEvent

log = structlog.get_logger(__name__)

OnEvent = Callable[[str, StoredEvent], None]
Wanted = Callable[[str], bool]
RECONNECT_SECONDS = 1.0


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` DSN of a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class EventListener:
    def __init__(self, url: str, repo: InteractionRepo, on_event: OnEvent, wanted: Wanted) -> None:
        self._dsn = asyncpg_dsn(url)
        self._repo = repo
        self._on_event = on_event
        self._wanted = wanted
        self._task: asyncio.Task[None] | None = None
        self._fetches: set[asyncio.Task[None]] = set()
        self.listening = asyncio.Event()
        """Set while the ``LISTEN`` is in place (tests wait for it)."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hangar-event-listener")
        with contextlib.suppress(TimeoutError):  # not fatal: readers poll until it is up
            await asyncio.wait_for(self.listening.wait(), 10)

    async def stop(self) -> None:
        for task in [t for t in (self._task,) if t is not None] + list(self._fetches):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database went away: listen again once it is back
                log.warning("events.listen_failed", error=f"{type(e).__name__}: {e}")
            self.listening.clear()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        closed = asyncio.Event()
        conn.add_termination_listener(lambda _conn: closed.set())
        try:
            await conn.add_listener(EVENTS_CHANNEL, self._received)
            self.listening.set()
            await closed.wait()
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            interaction_id, seq = str(message["i"]), int(message["s"])
        except (ValueError, KeyError, TypeError):
            return
        if not self._wanted(interaction_id):
            return
        event = message.get("e")
        if isinstance(event, dict):
            self._on_event(interaction_id, StoredEvent(seq=seq, event=event))
            return
        task = asyncio.create_task(self._fetch(interaction_id, seq))
        self._fetches.add(task)
        task.add_done_callback(self._fetches.discard)

    async def _fetch(self, interaction_id: str, seq: int) -> None:
        try:
            for stored in await self._repo.events_after(interaction_id, seq - 1):
                if stored.seq == seq:
                    self._on_event(interaction_id, stored)
        except Exception:
            log.exception("events.fetch_failed", interaction_id=interaction_id)
