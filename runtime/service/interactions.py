"""The interaction use cases: create, get, follow (stream), cancel, delete.

Every interaction, background or not, takes the same path: persisted ``in_progress`` with its
``interaction.created`` event, run by the worker, read back from the log. A non-background create
follows the log until ``interaction.completed``; a streamed one relays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from runtime.agents import AgentRegistry, AgentSpec
from runtime.errors import InputError, NotFound, QuotaExceeded
from runtime.outbound import OutboundGuard
from runtime.service.agents import AgentCatalog
from runtime.service.environments import EnvironmentService
from runtime.service.live_boxes import LiveBoxes
from runtime.service.outbound_urls import check_tool_urls, check_webhook_uris
from runtime.service.paging import Page, next_token, page_bounds
from runtime.service.read_cache import ReadCache
from runtime.service.webhooks import check_uri
from runtime.service.wire import CreateInteraction, Interaction, normalise_input
from runtime.steps import dump_steps, parse_steps
from runtime.store import InteractionRecord, JsonObject, Store, StoredEvent
from runtime.store.quotas import RunLimits
from runtime.wire import InteractionStatus
from runtime.worker import Broker, Worker
from runtime.worker.events import (
    TERMINAL_EVENT,
    ErrorInfo,
    InteractionCompleted,
    InteractionCreated,
    Usage,
    dump_event,
)
from runtime.worker.history import steps_of
from runtime.worker.timefmt import iso
from runtime.worker.worker import interaction_ref

RUNNING = InteractionStatus.IN_PROGRESS.value
T = TypeVar("T")
F = TypeVar("F")
_STATUSES = frozenset(s.value for s in InteractionStatus)
CANCEL_WAIT_SECONDS = 10.0


class InteractionService:
    def __init__(
        self,
        store: Store,
        worker: Worker,
        broker: Broker,
        *,
        poll_seconds: float = 1.0,
        agents: AgentRegistry | None = None,
        catalog: AgentCatalog | None = None,
        environments: EnvironmentService | None = None,
        read_cache_seconds: float = 2.0,
        outbound: OutboundGuard | None = None,
        limits: RunLimits | None = None,
        live_boxes: LiveBoxes | None = None,
        wake: Callable[[str], None] | None = None,
    ) -> None:
        """``live_boxes`` counts the project's kept and file boxes against its live box limit
        (and stops its least recently used kept boxes to make room). ``wake(environment_id)`` starts
        resuming the environment's kept box as soon as a run on it is accepted (the resume then
        overlaps the insert and the worker's claim)."""
        self._wake = wake
        self._limits = limits
        self._live_boxes = live_boxes
        self._outbound = outbound or OutboundGuard()
        self._finished: ReadCache[Interaction] = ReadCache(ttl_seconds=read_cache_seconds)
        self._agents = agents
        self._catalog = catalog
        self._environments = environments
        self._store = store
        self._worker = worker
        self._broker = broker
        self._poll = poll_seconds
        self._pending: set[asyncio.Task[None]] = set()

    async def create(
        self, project_id: str, request: CreateInteraction, idempotency_key: str | None = None
    ) -> InteractionRecord:
        """Persist a new interaction and hand it to the worker. Returns it ``in_progress`` (or,
        for a reused idempotency key, the interaction that key created).

        Raises:
            InputError: bad request (both or neither of model/agent, bad input, ...).
            NotFound: ``previous_interaction_id`` is not an interaction of this project.
        """
        kind, target = request.kind_and_target()
        if request.background and not request.store:
            raise InputError("`background: true` requires `store` to be true")
        steps = normalise_input(request.input)
        _check_webhook_config(request.webhook_config)
        await check_webhook_uris(self._outbound, request.webhook_config)
        await check_tool_urls(self._outbound, request.tools)
        if self._environments is not None:
            await self._environments.check_tool_credentials(project_id, request.tools)
        # NotFound (404) for an unknown agent or environment, before anything is stored. The
        # agent and the previous interaction are read at once; the agent's error comes first.
        agent, previous_environment = await _in_order(
            self._check_agent(project_id, kind, target), self._previous_environment(project_id, request)
        )
        environment_id, fresh = await self._environment_of(project_id, kind, request, agent)
        if environment_id is None and previous_environment and self._environments is not None:
            await self._environments.check_not_expired(project_id, previous_environment)
        environment_id = environment_id or previous_environment
        if environment_id is None and kind == "agent":
            environment_id, fresh = f"env_{secrets.token_hex(8)}", True
            if self._environments is not None:
                environment_id = self._environments.new_id(agent)  # a pre-started box's, when one is ready
                await self._environments.register(project_id, environment_id)
        now = time.time()
        record = InteractionRecord(
            id="int_" + secrets.token_hex(12),
            project_id=project_id,
            kind=kind,
            target=target,
            status=RUNNING,
            input=dump_steps(steps),
            config=request.config(),
            previous_interaction_id=request.previous_interaction_id,
            environment_id=environment_id,
            usage=None,
            errors=None,
            background=request.background,
            store=request.store,
            created=now,
            updated=now,
        )
        created = InteractionCreated(interaction=interaction_ref(record, RUNNING))
        limits = self._limits
        if kind == "agent" and limits is not None and self._live_boxes is not None:
            others = await self._live_boxes.for_run(project_id, environment_id)
            limits = dataclasses.replace(limits, live_boxes=others)
        inserted = await self._insert(
            record, dump_event(created), idempotency_key, fresh, environment_id, limits
        )
        if inserted.id == record.id and kind == "agent" and environment_id and self._wake is not None:
            self._wake(environment_id)  # accepted: its kept box resumes while the worker claims the run
        if inserted.id != record.id and fresh and self._environments is not None and environment_id:
            await self._environments.forget(project_id, environment_id)  # a replay made it for nothing
        self._worker.submit()
        return inserted

    async def _check_agent(self, project_id: str, kind: str, target: str) -> AgentSpec | None:
        """The agent, resolved as its runs will be (``None`` when not known here). Raises
        :class:`NotFound` for an unknown agent."""
        if kind == "agent" and self._catalog is not None:
            return await self._catalog.resolve(project_id, target)
        if kind == "agent" and self._agents is not None:
            self._agents.get(target)
        return None

    async def _previous_environment(self, project_id: str, request: CreateInteraction) -> str | None:
        """The environment of the interaction ``request`` continues, if any. Raises
        :class:`NotFound`, or :class:`InputError` while that interaction still runs."""
        if request.previous_interaction_id is None:
            return None
        previous = await self._record(project_id, request.previous_interaction_id)
        if previous.status == RUNNING:
            raise InputError(f"previous interaction {previous.id} is still in_progress")
        return previous.environment_id

    async def _insert(
        self,
        record: InteractionRecord,
        first: JsonObject,
        key: str | None,
        fresh: bool,
        environment_id: str | None,
        limits: RunLimits | None,
    ) -> InteractionRecord:
        """Insert within the project's limits; an environment made for a refused run is forgotten."""
        try:
            return await self._store.interactions.insert(record, first, key, limits=limits)
        except QuotaExceeded:
            if fresh and self._environments is not None and environment_id:
                await self._environments.forget(record.project_id, environment_id)
            raise

    async def _environment_of(
        self, project_id: str, kind: str, request: CreateInteraction, agent: AgentSpec | None
    ) -> tuple[str | None, bool]:
        """The environment the request (of ``agent``, when known) names or describes (see
        :class:`EnvironmentService`), and whether it was made for this request; ``None`` when it
        says nothing. Raises :class:`InputError` or :class:`NotFound`."""
        if request.environment is None:
            return None, False
        if kind != "agent":
            raise InputError("environment: only agent interactions run in an environment")
        if self._environments is None:
            return request.environment_id(), False
        return await self._environments.for_interaction(project_id, request.environment, agent)

    async def get(self, project_id: str, interaction_id: str, *, include_input: bool = False) -> Interaction:
        """Raises :class:`NotFound` for an unknown id or one of another project."""
        key = (project_id, interaction_id, str(include_input))
        cached = self._finished.get(key)
        if cached is not None:
            return cached
        found = await self._store.interactions.get_with_events(interaction_id, project_id)
        if found is None:
            raise NotFound(f"interaction {interaction_id} not found")
        record, events = found
        interaction = _interaction(record, steps_of(record, events), include_input)
        if record.status != RUNNING:
            self._finished.put(key, interaction)
        return interaction

    async def list(
        self, project_id: str, page_size: int | None, page_token: str | None, *,
        status: str | None = None, agent: str | None = None,
    ) -> Page:
        """``GET /{v}/interactions`` (a Hangar extension): the project's interactions newest first,
        without their steps (read one with :meth:`get`)."""
        if status is not None and status not in _STATUSES:
            raise InputError(f"status must be one of {', '.join(sorted(_STATUSES))}")
        offset, size = page_bounds(page_size, page_token)
        records = await self._store.interactions.page(
            project_id, offset, size + 1, status=status, agent=agent
        )
        items = [_interaction(r, [], include_input=False) for r in records[:size]]
        return Page(items, next_token(offset, size, len(records) > size))

    async def follow(
        self, project_id: str, interaction_id: str, after: int = 0
    ) -> AsyncIterator[StoredEvent | None]:
        """The logged events after ``after``, then live ones, ending after ``interaction.completed``.

        Yields ``None`` when nothing happened for a poll interval (the caller may send a keep-alive).
        Raises :class:`NotFound` before the first event when the interaction is unknown.
        """
        await self._record(project_id, interaction_id)
        return self._follow(interaction_id, after)

    async def _follow(self, interaction_id: str, after: int) -> AsyncIterator[StoredEvent | None]:
        repo = self._store.interactions
        last = after
        with self._broker.subscribe(interaction_id) as live:
            while True:
                events = await repo.events_after(interaction_id, last)
                for event in events:
                    yield event
                    last = event.seq
                    if event.event.get("event_type") == TERMINAL_EVENT:
                        return
                if not events:
                    ended = await self._ended_without_log(interaction_id, last)
                    if ended is not None:
                        if ended.seq > 0:
                            yield ended
                        return
                while True:  # live events, in order; a gap or a quiet interval re-reads the log
                    try:
                        event = await asyncio.wait_for(live.get(), self._poll)
                    except TimeoutError:
                        yield None
                        break
                    if event.seq <= last:
                        continue
                    if event.seq != last + 1:
                        break
                    yield event
                    last = event.seq
                    if event.event.get("event_type") == TERMINAL_EVENT:
                        return

    async def _ended_without_log(self, interaction_id: str, last: int) -> StoredEvent | None:
        """When the interaction is gone, or terminal for a while with no ``interaction.completed``
        in its log (its process died in between), the event that ends a stream (seq 0: none)."""
        record = await self._store.interactions.get(interaction_id)
        if record is None:
            return StoredEvent(seq=0, event={})
        if record.status == RUNNING or time.time() - record.updated < 2 * self._poll:
            return None
        usage = Usage.model_validate(record.usage) if record.usage else None
        completed = InteractionCompleted(interaction=interaction_ref(record, record.status, usage))
        return StoredEvent(seq=last + 1, event=dump_event(completed))

    async def wait(self, project_id: str, interaction_id: str, limit: float | None = None) -> None:
        """Return once the interaction is no longer running (or after ``limit`` seconds)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                last = await self._store.interactions.last_seq(interaction_id)
                async for _ in await self.follow(project_id, interaction_id, max(last - 1, 0)):
                    pass

    async def cancel(self, project_id: str, interaction_id: str) -> Interaction:
        """Cancel a running interaction and return it. Idempotent: a finished one is returned as is."""
        record = await self._record(project_id, interaction_id)
        if record.status == RUNNING:
            await self._worker.cancel(record)
            await self.wait(project_id, interaction_id, CANCEL_WAIT_SECONDS)
        return await self.get(project_id, interaction_id)

    async def delete(self, project_id: str, interaction_id: str) -> None:
        record = await self._record(project_id, interaction_id)
        if record.status == RUNNING:
            await self._worker.cancel(record)
            await self.wait(project_id, interaction_id, CANCEL_WAIT_SECONDS)
        self._finished.forget(project_id, interaction_id)
        if not await self._store.interactions.delete(interaction_id, project_id):
            raise NotFound(f"interaction {interaction_id} not found")

    def discard_later(self, record: InteractionRecord) -> None:
        """Forget a ``store: false`` interaction once it ended (its answer was delivered)."""
        if not record.store:
            task = asyncio.create_task(self._discard(record))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _discard(self, record: InteractionRecord) -> None:
        await self.wait(record.project_id, record.id, CANCEL_WAIT_SECONDS)
        self._finished.forget(record.project_id, record.id)
        await self._store.interactions.delete(record.id, record.project_id)

    async def _record(self, project_id: str, interaction_id: str) -> InteractionRecord:
        record = await self._store.interactions.get(interaction_id, project_id)
        if record is None:
            raise NotFound(f"interaction {interaction_id} not found")
        return record


async def _in_order(first: Awaitable[F], second: Awaitable[T]) -> tuple[F, T]:
    """Both awaited at once; when both fail, the first one's error is raised."""
    done = await asyncio.gather(first, second, return_exceptions=True)
    for item in done:
        if isinstance(item, BaseException):
            raise item
    return done[0], done[1]  # type: ignore[return-value]


def _interaction(
    record: InteractionRecord, steps: list[dict[str, object]], include_input: bool
) -> Interaction:
    target = {"model": record.target} if record.kind == "model" else {"agent": record.target}
    return Interaction(
        id=record.id,
        status=record.status,
        created=iso(record.created),
        updated=iso(record.updated),
        steps=parse_steps(steps),
        usage=Usage.model_validate(record.usage) if record.usage else None,
        previous_interaction_id=record.previous_interaction_id,
        environment_id=record.environment_id,
        errors=[ErrorInfo.model_validate(e) for e in record.errors] if record.errors else None,
        input=parse_steps(record.input) if include_input else None,
        **target,
        **record.config,
    )


def _check_webhook_config(config: dict[str, Any] | None) -> None:
    """Per-request webhook targets are refused at create, not discovered broken when the run ends."""
    uris = (config or {}).get("uris") or []
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise InputError("webhook_config.uris must be a list of URLs")
    for uri in uris:
        check_uri(uri)
