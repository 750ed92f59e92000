"""The trigger scheduler: cron arithmetic, and the loop that fires due ticks and settles executions.

Schedules are standard five-field cron expressions read by ``cronsim`` in the trigger's IANA time
zone (``zoneinfo``), so a daily ``30 2 * * *`` runs once a day across daylight-saving changes: on
the spring-forward day at the first minute after the gap (03:00), on the fall-back day once (at
the first 02:30). An hourly schedule fires on every real hour, the repeated one included.

The loop does no business itself: every ``poll_seconds`` it asks its :class:`TriggerEngine`
(the trigger service) to fire what is due and to settle what finished or overran. Several
processes may run it on one database; the store makes each tick fire once (see
:mod:`runtime.store.triggers`).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from cronsim import CronSim, CronSimError

log = structlog.get_logger(__name__)


class ScheduleError(ValueError):
    """A schedule or time zone that cannot be used; ``field`` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``UTC``, ``Europe/Berlin``). Raises :class:`ScheduleError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ScheduleError("time_zone", f"unknown time zone {name!r} (use an IANA name such as UTC)") from e


def check_schedule(schedule: str, time_zone: str) -> None:
    """Raises :class:`ScheduleError` naming ``schedule`` or ``time_zone``."""
    next_fire(schedule, time_zone, 0.0)


def next_fire(schedule: str, time_zone: str, after: float) -> float:
    """The first tick of ``schedule`` strictly after ``after`` (UNIX seconds), as UNIX seconds."""
    tz = zone(time_zone)
    if len(schedule.split()) != 5:
        raise ScheduleError("schedule", f"schedule {schedule!r} must be a five-field cron expression")
    start = datetime.fromtimestamp(after, UTC).astimezone(tz)
    try:
        ticks = CronSim(schedule, start)
        tick = next(ticks)
        while tick.timestamp() <= after:  # cronsim starts at the given minute, inclusive
            tick = next(ticks)
    except CronSimError as e:
        raise ScheduleError("schedule", f"invalid schedule {schedule!r}: {e}") from e
    except StopIteration as e:  # e.g. "0 0 30 2 *": never
        raise ScheduleError("schedule", f"schedule {schedule!r} never fires") from e
    return tick.timestamp()


class TriggerEngine(Protocol):
    async def fire_due(self, now: float) -> None:
        """Start (or skip) every tick whose time has come."""

    async def settle(self, now: float) -> None:
        """Close executions whose interaction ended, and time out those past their bound."""


class Scheduler:
    """Runs :class:`TriggerEngine` passes every ``poll_seconds`` between ``start`` and ``stop``."""

    def __init__(self, engine: TriggerEngine, poll_seconds: float) -> None:
        self._engine = engine
        self._poll = poll_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hangar-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for step in (self._engine.fire_due, self._engine.settle):
                try:
                    await step(_wall())
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("scheduler.pass_failed", step=step.__name__)
            await asyncio.sleep(max(self._poll - (loop.time() - now), 0.0))


def _wall() -> float:
    return datetime.now(UTC).timestamp()
