"""The in-process worker: claims running interactions with a lease, heartbeats, runs them through
the :class:`RunnerRegistry`, and ends them with a terminal status and ``interaction.completed``.

Lifecycle of one interaction: the service inserts it ``in_progress`` with no lease and event 1
(``interaction.created``); the worker claims it (a conditional UPDATE), logs a status update, runs
it, then moves it to its terminal status and logs ``interaction.completed``. Every event goes to the
log before it is published.

Recovery: a lease not renewed in time (its process was killed) is claimable again, by any worker's
periodic claim, this process's or another's. The new owner resumes the run from the log
(:mod:`runtime.worker.resume`): the runner continues after the steps already logged, new steps
take the next indexes. An interaction started more than ``max_attempts`` times (it keeps killing
its process), or whose runner cannot resume it, fails with the code ``interrupted``; so nothing
stays ``in_progress`` forever.

Shutdown (:meth:`Worker.stop`; :meth:`Worker.stop_claiming` first, as soon as the process is
told to stop, while it still answers requests): stop claiming, give running interactions ``grace_seconds`` to
finish, then cancel them (their sandboxes are stopped by the runners' ``finally`` blocks) and
*release* their leases, expired: the next start (or another process) resumes them. Nothing is
failed because the server stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from runtime import metrics
from runtime.errors import HangarError, InfraError
from runtime.steps import Step, parse_steps
from runtime.store import InteractionRecord, JsonObject, Lease, LeaseLost, Store, StoredEvent
from runtime.wire import InteractionStatus
from runtime.worker.broker import Broker
from runtime.worker.events import (
    ErrorEvent,
    ErrorInfo,
    Event,
    InteractionCancelled,
    InteractionCompleted,
    InteractionRef,
    StatusUpdate,
    StepStop,
    Usage,
    dump_event,
)
from runtime.worker.history import load_history
from runtime.worker.resume import Resumption, resumption
from runtime.worker.runner import InteractionConfig, RunInput, RunnerRegistry, RunResult
from runtime.worker.timefmt import iso

log = structlog.get_logger(__name__)

AGENT_NOT_WIRED = "agent runs are not wired yet"

OnFinished = Callable[[InteractionRecord, str, Usage | None], Awaitable[None]]
"""Called once an interaction reached its terminal status (after ``interaction.completed``)."""


def interaction_ref(record: InteractionRecord, status: str, usage: Usage | None = None) -> InteractionRef:
    target = {"model": record.target} if record.kind == "model" else {"agent": record.target}
    return InteractionRef(
        id=record.id,
        status=status,
        created=iso(record.created),
        updated=iso(time.time()),
        usage=usage,
        **target,
    )


class LogWriter:
    """Appends events to one interaction's log, then publishes them. Only the owner uses it: with
    ``lease``, each write is fenced by it, and a refused one sets ``lost`` and raises."""

    def __init__(
        self,
        store: Store,
        broker: Broker,
        interaction_id: str,
        last_seq: int,
        lease: Lease | None = None,
        lost: asyncio.Event | None = None,
    ) -> None:
        self._store = store
        self._broker = broker
        self._id = interaction_id
        self._seq = last_seq
        self._lease = lease
        self._lost = lost
        self._last: asyncio.Future[None] | None = None
        """Done once the write asked for last is: writes go one at a time, in the order they were
        asked for (one started in the background, :meth:`soon`, goes before the run's next)."""
        self._failed: BaseException | None = None
        """The first write that failed: every later one fails with it (a log with a hole in it,
        e.g. a missing status event written by :meth:`soon`, must not go on growing)."""

    async def __call__(self, event: Event) -> None:
        await self.many([event])

    async def many(self, events: Sequence[Event]) -> None:
        """Append ``events`` in one write (all of them or none), then publish them in order."""
        await self._write(*self._queue(), [dump_event(event) for event in events])

    def soon(self, event: Event) -> asyncio.Future[None]:
        """Start writing ``event`` now, ahead of every event asked for later; returns the write
        (to be awaited: it raises like ``__call__``)."""
        write = asyncio.ensure_future(self._write(*self._queue(), [dump_event(event)]))
        write.add_done_callback(lambda done: done.cancelled() or done.exception())
        return write

    def _queue(self) -> tuple[asyncio.Future[None] | None, asyncio.Future[None]]:
        """(the write to wait for, this one's own turn), taken when the write is asked for."""
        previous, mine = self._last, asyncio.get_running_loop().create_future()
        self._last = mine
        return previous, mine

    async def _write(
        self, previous: asyncio.Future[None] | None, mine: asyncio.Future[None], data: list[JsonObject]
    ) -> None:
        try:
            if previous is not None:
                await asyncio.shield(previous)
            if self._failed is not None:
                raise InfraError(f"an earlier write to interaction {self._id}'s log failed") from self._failed
            try:
                await self._store.interactions.append_events(self._id, self._seq + 1, data, lease=self._lease)
            except (IntegrityError, LeaseLost) as e:
                self._failed = e
                if self._lost is not None:
                    self._lost.set()
                raise InfraError(f"lost ownership of interaction {self._id}'s log", retryable=False) from e
            except Exception as e:
                self._failed = e
                raise
            for item in data:
                self._seq += 1
                self._broker.publish(self._id, StoredEvent(seq=self._seq, event=item))
        finally:
            if previous is None or previous.done():
                _settle(mine)
            else:  # cancelled while waiting: the next write still waits for the previous one
                previous.add_done_callback(lambda _: _settle(mine))

    @classmethod
    async def open(
        cls,
        store: Store,
        broker: Broker,
        interaction_id: str,
        lease: Lease | None = None,
        lost: asyncio.Event | None = None,
    ) -> LogWriter:
        last = await store.interactions.last_seq(interaction_id)
        return cls(store, broker, interaction_id, last, lease, lost)


class Worker:
    def __init__(
        self,
        store: Store,
        broker: Broker,
        runners: RunnerRegistry,
        *,
        lease_seconds: float = 6.0,
        poll_seconds: float = 1.0,
        concurrency: int = 8,
        grace_seconds: float = 10.0,
        max_attempts: int = 3,
        on_finished: OnFinished | None = None,
    ) -> None:
        self.owner = "w_" + secrets.token_hex(6)
        self._store = store
        self._broker = broker
        self._runners = runners
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._cancels: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._grace = grace_seconds
        self._max_attempts = max_attempts
        self._stopping = False
        self._claiming = True
        self._on_finished = on_finished

    # -- lifetime ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._loop = asyncio.create_task(self._claim_loop(), name="hangar-worker")

    @property
    def running(self) -> bool:
        """Whether the claim loop is alive (readiness)."""
        return self._loop is not None and not self._loop.done()

    async def stop(self) -> None:
        """Stop claiming; let running interactions finish for the grace period; release the
        leases of those still running (left expired, so the next claim resumes them)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        tasks = list(self._tasks)
        if tasks and self._grace > 0:
            log.info("worker.draining", running=len(tasks), grace_seconds=self._grace)
            await asyncio.wait(tasks, timeout=self._grace)
        self._stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop_claiming(self) -> None:
        """Take no new work (the process is about to stop: SIGTERM); running runs go on."""
        if self._claiming:
            self._claiming = False
            log.info("worker.stop_claiming", running=len(self._tasks))

    def submit(self) -> None:
        """Tell the worker new work is waiting (it also polls, for work queued by other processes)."""
        self._wake.set()

    # -- cancel ------------------------------------------------------------------------------------

    async def cancel(self, record: InteractionRecord) -> None:
        """Ask a running interaction to stop, wherever it runs. Idempotent."""
        interactions = self._store.interactions
        await interactions.request_cancel(record.id)
        local = self._cancels.get(record.id)
        if local is not None:
            local.set()
        elif await interactions.finish(record.id, InteractionStatus.CANCELLED, owner=None):
            # Nobody had claimed it: this call owns its log now.
            writer = await LogWriter.open(self._store, self._broker, record.id)
            await writer(InteractionCancelled())
            status = InteractionStatus.CANCELLED
            await writer(InteractionCompleted(interaction=interaction_ref(record, status)))
            await self._notify(record, status, None)

    # -- claiming ----------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        # Each pass also takes expired leases: runs interrupted in any process are resumed here.
        while True:
            try:
                await self._claim_available()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker.claim_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)

    async def _claim_available(self) -> None:
        while self._claiming:
            self._wake.clear()
            await self._slots.acquire()
            try:
                record = await self._store.interactions.claim(self.owner, self._lease)
            except BaseException:
                self._slots.release()
                raise
            if record is None:
                self._slots.release()
                return
            cancel = asyncio.Event()
            if record.cancel_requested:
                cancel.set()
            self._cancels[record.id] = cancel
            task = asyncio.create_task(self._execute(record, cancel), name=f"interaction-{record.id}")
            self._tasks.add(task)
            metrics.INTERACTIONS_RUNNING.inc()
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        metrics.INTERACTIONS_RUNNING.dec()
        self._slots.release()

    # -- running -----------------------------------------------------------------------------------

    async def _execute(self, record: InteractionRecord, cancel: asyncio.Event) -> None:
        bound = log.bind(interaction_id=record.id, kind=record.kind, target=record.target)
        lost = asyncio.Event()
        lease = Lease(self.owner, record.lease_epoch)
        heartbeat = asyncio.create_task(self._heartbeat(record.id, lease.epoch, cancel, lost))
        # The earlier turns load while the log is read and the status written (reads only).
        history = asyncio.ensure_future(load_history(self._store.interactions, record))
        status: asyncio.Future[None] | None = None
        try:
            logged, last = await self._log_of(record)
            writer = LogWriter(self._store, self._broker, record.id, last, lease, lost)
            resumed = resumption(record, logged)
            # Written while the run starts (provisioning needs no log): its first event waits for it.
            status = writer.soon(StatusUpdate(interaction_id=record.id, status=InteractionStatus.IN_PROGRESS))
            if resumed.attempts:
                bound.warning("interaction.resumed", attempt=resumed.attempts + 1, steps=len(resumed.steps))
            try:
                result = await self._resume(record, writer, resumed, cancel, lost, history)
                await status
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                await self._store.interactions.release(record.id, self.owner, epoch=lease.epoch)
                bound.info("interaction.released")
                return
            if lost.is_set():
                bound.warning("interaction.lease_lost")
                return
            await self._finish(record, writer, result, lease)
            bound.info("interaction.finished", status=result.status)
        except Exception:
            if lost.is_set():
                bound.warning("interaction.lease_lost")
            else:
                bound.exception("interaction.finish_failed")
        finally:
            heartbeat.cancel()
            _drop(history)
            if status is not None:
                _drop(status)
            self._cancels.pop(record.id, None)

    async def _log_of(self, record: InteractionRecord) -> tuple[list[StoredEvent], int]:
        """The log of a claimed interaction and its last sequence number. At its first claim
        (epoch 1: every other epoch bump ends the run) it holds only ``interaction.created``,
        written with the interaction: not read again. Were it not so, the first write would be
        refused (the next sequence number is taken) and the run resumed at the next claim."""
        if record.lease_epoch == 1:
            return [], 1
        logged = await self._store.interactions.events_after(record.id)
        return logged, logged[-1].seq if logged else 0

    async def _resume(
        self,
        record: InteractionRecord,
        writer: LogWriter,
        resumed: Resumption,
        cancel: asyncio.Event,
        lost: asyncio.Event,
        history: Awaitable[list[Step]],
    ) -> RunResult:
        if resumed.attempts >= self._max_attempts:
            return _failed(
                "interrupted",
                f"the Hangar process running this interaction stopped {resumed.attempts} times before "
                "it finished; create a new interaction to retry",
            )
        for index in resumed.open_indexes:  # streamed by a process that died: close them
            await writer(StepStop(index=index))
        return await self._run(record, writer, cancel, lost, resumed, history)

    async def _run(
        self,
        record: InteractionRecord,
        writer: LogWriter,
        cancel: asyncio.Event,
        lost: asyncio.Event,
        resumed: Resumption,
        history: Awaitable[list[Step]],
    ) -> RunResult:
        runner = self._runners.get(record.kind)
        if runner is None:
            if record.kind == "agent":
                return _failed("not_implemented", AGENT_NOT_WIRED)
            return _failed("not_implemented", f"no runner for {record.kind} interactions")
        try:
            run = RunInput(
                interaction=record,
                config=InteractionConfig.model_validate(record.config),
                input_steps=parse_steps(record.input),
                history=await history,
                resumed_steps=resumed.steps,
            )
            task = asyncio.create_task(runner.run(run, writer, cancel))
            stop = asyncio.create_task(_first(cancel, lost))
            try:
                await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if task.cancelled():
                return RunResult(status=InteractionStatus.CANCELLED)
            return task.result()
        except HangarError as e:
            return _failed(e.code, e.message)
        except Exception as e:
            log.exception("interaction.runner_crashed", interaction_id=record.id)
            return _failed("internal", f"internal error: {type(e).__name__}: {e}")

    async def _finish(
        self, record: InteractionRecord, writer: LogWriter, result: RunResult, lease: Lease
    ) -> None:
        errors = [result.error.model_dump()] if result.error is not None else None
        if result.error is not None:
            await writer(ErrorEvent(error=result.error))
        usage = result.usage.model_dump() if result.usage is not None else None
        if await self._store.interactions.finish(
            record.id, result.status, owner=lease.owner, epoch=lease.epoch, usage=usage, errors=errors
        ):
            metrics.INTERACTIONS_FINISHED.labels(record.kind, result.status).inc()
            metrics.INTERACTION_SECONDS.labels(record.kind).observe(max(0.0, time.time() - record.created))
            ref = interaction_ref(record, result.status, result.usage)
            if result.status == InteractionStatus.CANCELLED:
                await writer(InteractionCancelled(usage=result.usage))
            await writer(InteractionCompleted(interaction=ref))
            await self._notify(record, result.status, result.usage)

    async def _notify(self, record: InteractionRecord, status: str, usage: Usage | None) -> None:
        """Tell ``on_finished`` (webhooks) that an interaction ended; its failure is only logged."""
        if self._on_finished is None:
            return
        try:
            await self._on_finished(record, status, usage)
        except Exception:
            log.exception("interaction.on_finished_failed", interaction_id=record.id)

    async def _heartbeat(
        self, interaction_id: str, epoch: int, cancel: asyncio.Event, lost: asyncio.Event
    ) -> None:
        # Four renewals per lease: one or two late heartbeats (a busy machine) do not lose it.
        interval = min(self._lease / 4, self._poll)
        while True:
            await asyncio.sleep(interval)
            try:
                repo = self._store.interactions
                cancel_requested = await repo.renew(interaction_id, self.owner, self._lease, epoch=epoch)
            except Exception:
                log.exception("worker.heartbeat_failed", interaction_id=interaction_id)
                continue
            if cancel_requested is None:
                lost.set()
                return
            if cancel_requested:
                cancel.set()


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _settle(turn: asyncio.Future[None]) -> None:
    if not turn.done():
        turn.set_result(None)


def _drop(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` if it still runs; its error, if it ended with one nobody awaited, is dropped."""
    task.cancel()
    if task.done() and not task.cancelled():
        task.exception()


def _failed(code: str, message: str) -> RunResult:
    return RunResult(status=InteractionStatus.FAILED, error=ErrorInfo(code=code, message=message))
