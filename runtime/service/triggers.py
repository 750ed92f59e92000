"""The trigger use cases (spec §9): create, list, get, update (pause/resume), delete, run now,
list executions; and the engine the scheduler drives (fire due ticks, settle executions).

Semantics Hangar fixes where Google's docs are silent:

- A run is a background agent interaction created from the trigger's ``interaction`` body; with
  ``environment_id`` every run uses that environment (files persist between runs), without it
  each run gets a fresh one.
- Runs never overlap: a tick (or ``run``) while the previous execution is still ``in_progress``
  is recorded as ``skipped``.
- An execution ends ``completed`` when its interaction completes, ``failed`` when it ends any
  other way, ``timed_out`` when it is still running ``execution_timeout_seconds`` after it started
  (the interaction is then cancelled). ``failed`` and ``timed_out`` count towards
  ``max_consecutive_failures``; reaching it sets the trigger to ``error`` (no more ticks until it is
  resumed with ``status: active``, which clears the count).
- After downtime, at most one missed tick runs (the earliest), then the schedule goes on from now.
- Pausing stops ticks; resuming schedules the next tick after the resume (no catch-up).
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.errors import InputError, NotFound
from runtime.outbound import OutboundGuard
from runtime.service.agents import AgentCatalog
from runtime.service.environments import FRESH, EnvironmentService
from runtime.service.interactions import InteractionService
from runtime.service.outbound_urls import check_tool_urls, check_webhook_uris
from runtime.service.paging import next_token, page_bounds
from runtime.service.requests import parse_create
from runtime.service.wire import CreateInteraction, describe, normalise_input
from runtime.store import Store
from runtime.store.triggers import IN_PROGRESS, ExecutionRecord, TriggerRecord, TriggerRepo
from runtime.worker import Worker
from runtime.worker.scheduler import ScheduleError, check_schedule, next_fire
from runtime.worker.timefmt import iso

ACTIVE, PAUSED, ERROR = "active", "paused", "error"
COMPLETED, FAILED, SKIPPED, TIMED_OUT = "completed", "failed", "skipped", "timed_out"
_M = TypeVar("_M", bound=BaseModel)
LOST_AFTER_SECONDS = 120.0
"""An execution whose process died before it recorded its interaction is failed after this."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TriggerCreate(_Strict):
    """``POST /{v}/triggers``. Unknown fields are refused (400)."""

    interaction: dict[str, Any]
    schedule: str = Field(max_length=200)
    time_zone: str = Field(max_length=100)
    display_name: str | None = Field(default=None, max_length=200)
    environment_id: str | None = Field(default=None, max_length=200)
    execution_timeout_seconds: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)
    max_consecutive_failures: int | None = Field(default=None, ge=1, le=1000)


class TriggerUpdate(_Strict):
    """``PATCH /{v}/triggers/{id}``."""

    display_name: str | None = Field(default=None, max_length=200)
    status: Literal["active", "paused", "error"] | None = None


class Trigger(BaseModel):
    id: str
    interaction: dict[str, Any]
    schedule: str
    time_zone: str
    display_name: str | None = None
    environment_id: str | None = None
    execution_timeout_seconds: int | None = None
    max_consecutive_failures: int | None = None
    status: str
    consecutive_failure_count: int
    previous_interaction_id: str | None = None
    create_time: str
    update_time: str
    last_run_time: str | None = None
    next_run_time: str | None = None
    last_pause_time: str | None = None
    last_resume_time: str | None = None


class TriggerExecution(BaseModel):
    id: str
    trigger_id: str
    status: str
    interaction_id: str | None = None
    environment_id: str | None = None
    error: str | None = None
    scheduled_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None


class TriggerList(BaseModel):
    triggers: list[Trigger]
    next_page_token: str = ""


class ExecutionList(BaseModel):
    trigger_executions: list[TriggerExecution]
    next_page_token: str = ""


class TriggerService:
    def __init__(
        self,
        store: Store,
        interactions: InteractionService,
        worker: Worker,
        catalog: AgentCatalog,
        environments: EnvironmentService,
        guard: OutboundGuard,
    ) -> None:
        self._store = store
        self._guard = guard
        self._repo = TriggerRepo(store.engine)
        self._interactions = interactions
        self._worker = worker
        self._catalog = catalog
        self._environments = environments

    # -- resource ----------------------------------------------------------------------------------

    async def create(self, project_id: str, body: dict[str, Any]) -> Trigger:
        """Raises :class:`InputError` naming the bad field, :class:`NotFound` for an unknown agent
        or environment."""
        request = _parse(TriggerCreate, body)
        interaction = _interaction_body(request.interaction, request.environment_id)
        await check_webhook_uris(self._guard, interaction.webhook_config)  # refused now, not at each run
        await check_tool_urls(self._guard, interaction.tools)
        await self._catalog.resolve(project_id, interaction.kind_and_target()[1])
        named = interaction.environment_id()  # `interaction.environment` as an id, or its environment_id
        if named is not None and named != FRESH and request.environment_id is None:
            await self._environments.usable(project_id, named)  # NotFound (404) for another project's
        if request.environment_id is not None:
            environment_id = (await self._environments.usable(project_id, request.environment_id)).id
            request = request.model_copy(update={"environment_id": environment_id})
        now = time.time()
        record = TriggerRecord(
            project_id=project_id, id="trg_" + secrets.token_hex(10), display_name=request.display_name,
            interaction=request.interaction, schedule=request.schedule.strip(),
            time_zone=request.time_zone, environment_id=request.environment_id,
            execution_timeout_seconds=request.execution_timeout_seconds,
            max_consecutive_failures=request.max_consecutive_failures, status=ACTIVE,
            consecutive_failure_count=0, previous_interaction_id=None,
            next_run_time=_next(request.schedule.strip(), request.time_zone, now),
            last_run_time=None, last_pause_time=None, last_resume_time=None, created=now, updated=now,
        )
        await self._repo.insert(record)
        return _trigger(record)

    async def list(
        self, project_id: str, filter_: str | None, page_size: int | None, page_token: str | None
    ) -> TriggerList:
        offset, size = page_bounds(page_size, page_token)
        records = await self._repo.page(project_id, _status_filter(filter_), offset, size + 1)
        more = len(records) > size
        return TriggerList(
            triggers=[_trigger(r) for r in records[:size]], next_page_token=next_token(offset, size, more)
        )

    async def get(self, project_id: str, trigger_id: str) -> Trigger:
        return _trigger(await self._record(project_id, trigger_id))

    async def update(self, project_id: str, trigger_id: str, body: dict[str, Any]) -> Trigger:
        """``status: paused`` pauses, ``status: active`` resumes (from ``error`` too, clearing the
        failure count). ``error`` is Hangar's to set: asking for it is a 400."""
        request = _parse(TriggerUpdate, body)
        record = await self._record(project_id, trigger_id)
        values: dict[str, Any] = {}
        if "display_name" in request.model_fields_set:
            values["display_name"] = request.display_name
        if request.status == ERROR:
            raise InputError("`status`: `error` is set by Hangar after failures; send active or paused")
        now = time.time()
        if request.status == PAUSED and record.status != PAUSED:
            values.update(status=PAUSED, next_run_time=None, last_pause_time=now)
        elif request.status == ACTIVE and record.status != ACTIVE:
            values.update(
                status=ACTIVE, consecutive_failure_count=0, last_resume_time=now,
                next_run_time=_next(record.schedule, record.time_zone, now),
            )
        if not values:
            return _trigger(record)
        updated = await self._repo.update(project_id, trigger_id, values)
        if updated is None:
            raise NotFound(f"trigger {trigger_id} not found")
        return _trigger(updated)

    async def delete(self, project_id: str, trigger_id: str) -> None:
        """Running executions' interactions go on; the trigger and its history are removed."""
        if not await self._repo.delete(project_id, trigger_id):
            raise NotFound(f"trigger {trigger_id} not found")

    async def run(self, project_id: str, trigger_id: str) -> TriggerExecution:
        """Run now, whatever the status (``skipped`` while an execution is in progress)."""
        record = await self._record(project_id, trigger_id)
        now = time.time()
        execution = await self._new_execution(record, now)
        if not await self._repo.add_execution(execution):
            raise InputError("another execution was recorded at the same instant; retry")
        if execution.status == IN_PROGRESS:
            execution = await self._start(record, execution)
        return _execution(execution)

    async def executions(
        self, project_id: str, trigger_id: str, page_size: int | None, page_token: str | None
    ) -> ExecutionList:
        await self._record(project_id, trigger_id)
        offset, size = page_bounds(page_size, page_token)
        records = await self._repo.executions(trigger_id, offset, size + 1)
        more = len(records) > size
        return ExecutionList(
            trigger_executions=[_execution(r) for r in records[:size]],
            next_page_token=next_token(offset, size, more),
        )

    # -- engine (driven by runtime.worker.scheduler.Scheduler) -------------------------------------

    async def fire_due(self, now: float) -> None:
        for trigger in await self._repo.due(now):
            assert trigger.next_run_time is not None
            # one missed tick at most: the next one is the first after now, not after the missed one
            following = _next(trigger.schedule, trigger.time_zone, max(now, trigger.next_run_time))
            execution = await self._new_execution(trigger, now, scheduled=trigger.next_run_time)
            if not await self._repo.claim_tick(trigger, execution, following):
                continue  # another process fired this tick
            if execution.status == IN_PROGRESS:
                await self._start(trigger, execution)

    async def settle(self, now: float) -> None:
        for execution in await self._repo.running():
            trigger = await self._repo.by_id(execution.trigger_id)
            if trigger is None:
                continue
            if execution.interaction_id is None:
                if now - (execution.start_time or now) > LOST_AFTER_SECONDS:
                    await self._finish(execution, FAILED, "the run was lost before its interaction started")
                continue
            record = await self._store.interactions.get(execution.interaction_id)
            if record is None:
                await self._finish(execution, FAILED, "the interaction was deleted")
            elif record.status != IN_PROGRESS:
                status = COMPLETED if record.status == COMPLETED else FAILED
                await self._finish(execution, status, None if status == COMPLETED else _why(record))
            elif _overran(trigger, execution, now):
                error = f"still running after execution_timeout_seconds={trigger.execution_timeout_seconds}"
                if await self._finish(execution, TIMED_OUT, error):
                    await self._worker.cancel(record)

    # -- helpers -----------------------------------------------------------------------------------

    async def _new_execution(
        self, trigger: TriggerRecord, now: float, *, scheduled: float | None = None
    ) -> ExecutionRecord:
        busy = bool(await self._repo.running(trigger.id))
        return ExecutionRecord(
            id="exe_" + secrets.token_hex(10), trigger_id=trigger.id, project_id=trigger.project_id,
            status=SKIPPED if busy else IN_PROGRESS, scheduled_time=now if scheduled is None else scheduled,
            start_time=now, end_time=now if busy else None, environment_id=trigger.environment_id,
            error="the previous execution is still in progress" if busy else None,
        )

    async def _start(self, trigger: TriggerRecord, execution: ExecutionRecord) -> ExecutionRecord:
        """Create the run's interaction; a refusal (agent or environment gone) fails the execution."""
        try:
            request = _interaction_body(trigger.interaction, trigger.environment_id)
            created = await self._interactions.create(trigger.project_id, request)
        except (InputError, NotFound) as e:
            await self._finish(execution, FAILED, e.message)
            return (await self._repo.execution(execution.id)) or execution
        values = {"interaction_id": created.id, "environment_id": created.environment_id}
        await self._repo.set_execution(execution.id, values)
        await self._repo.update(trigger.project_id, trigger.id, {"previous_interaction_id": created.id})
        return ExecutionRecord(**{**execution.__dict__, **values})

    async def _finish(self, execution: ExecutionRecord, status: str, error: str | None) -> bool:
        """End an ``in_progress`` execution (the first writer wins) and count it on its trigger."""
        values = {"status": status, "end_time": time.time(), "error": error}
        if not await self._repo.set_execution(execution.id, values, only_if=IN_PROGRESS):
            return False
        await self._repo.record_outcome(execution.trigger_id, status != COMPLETED, None)
        return True

    async def _record(self, project_id: str, trigger_id: str) -> TriggerRecord:
        record = await self._repo.get(project_id, trigger_id)
        if record is None:
            raise NotFound(f"trigger {trigger_id} not found")
        return record


def _parse(model: type[_M], body: dict[str, Any]) -> _M:
    try:
        return model.model_validate(body)
    except ValidationError as e:
        raise InputError(f"invalid request: {describe(e)}") from e


def _interaction_body(body: dict[str, Any], environment_id: str | None) -> CreateInteraction:
    """The run's create request: the trigger's agent interaction, in the background."""
    for name, bad in (("model", None), ("stream", True), ("store", False), ("background", False)):
        if name in body and (bad is None or body[name] is bad):
            raise InputError(f"`interaction.{name}`: a trigger runs an agent interaction in the background")
    if "agent" not in body:
        raise InputError("`interaction.agent` is required: triggers run agents")
    if environment_id is not None and body.get("environment") is not None:
        raise InputError("set `environment_id` or `interaction.environment`, not both")
    data = {**body, "background": True}
    if environment_id is not None:
        data["environment"] = environment_id
    try:
        request = parse_create(data)
        normalise_input(request.input)
        return request
    except InputError as e:
        raise InputError(f"`interaction`: {e.message}") from e


def _next(schedule: str, time_zone: str, after: float) -> float:
    try:
        check_schedule(schedule, time_zone)
        return next_fire(schedule, time_zone, after)
    except ScheduleError as e:
        raise InputError(f"`{e.field}`: {e}") from e


def _status_filter(filter_: str | None) -> str | None:
    if not filter_:
        return None
    name, _, value = filter_.replace(" ", "").partition("=")
    if name not in ("status", "state") or value.strip('"') not in (ACTIVE, PAUSED, ERROR):
        raise InputError("`filter`: Hangar filters on status only, e.g. `status=active`")
    return value.strip('"')


def _overran(trigger: TriggerRecord, execution: ExecutionRecord, now: float) -> bool:
    bound = trigger.execution_timeout_seconds
    return bound is not None and now - (execution.start_time or now) > bound


def _why(record: Any) -> str:
    errors = record.errors or []
    message = errors[0].get("message") if errors and isinstance(errors[0], dict) else None
    return f"the interaction ended {record.status}" + (f": {message}" if message else "")


def _opt(value: float | None) -> str | None:
    return None if value is None else iso(value)


def _trigger(record: TriggerRecord) -> Trigger:
    return Trigger(
        id=record.id, interaction=record.interaction, schedule=record.schedule, time_zone=record.time_zone,
        display_name=record.display_name, environment_id=record.environment_id,
        execution_timeout_seconds=record.execution_timeout_seconds,
        max_consecutive_failures=record.max_consecutive_failures, status=record.status,
        consecutive_failure_count=record.consecutive_failure_count,
        previous_interaction_id=record.previous_interaction_id, create_time=iso(record.created),
        update_time=iso(record.updated), last_run_time=_opt(record.last_run_time),
        next_run_time=_opt(record.next_run_time), last_pause_time=_opt(record.last_pause_time),
        last_resume_time=_opt(record.last_resume_time),
    )


def _execution(record: ExecutionRecord) -> TriggerExecution:
    return TriggerExecution(
        id=record.id, trigger_id=record.trigger_id, status=record.status,
        interaction_id=record.interaction_id, environment_id=record.environment_id, error=record.error,
        scheduled_time=iso(record.scheduled_time), start_time=_opt(record.start_time),
        end_time=_opt(record.end_time),
    )
