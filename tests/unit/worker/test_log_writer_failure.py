"""A write to a run's log that fails stays failed: the writes after it refuse too, so a run whose
background status write was lost stops at its next step rather than logging a log with a hole."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from runtime.errors import InfraError
from runtime.wire import InteractionStatus
from runtime.worker.broker import Broker
from runtime.worker.events import StatusUpdate
from runtime.worker.worker import LogWriter


class FlakyLog:
    """``append_events`` that fails its first call (a dropped database connection), then works."""

    def __init__(self) -> None:
        self.calls = 0
        self.appended: list[list[dict[str, Any]]] = []

    async def append_events(self, interaction_id: str, seq: int, data: list[Any], lease: Any = None) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("server closed the connection unexpectedly")
        self.appended.append(data)


def status() -> StatusUpdate:
    return StatusUpdate(interaction_id="int_1", status=InteractionStatus.IN_PROGRESS)


async def test_writes_after_a_failed_background_write_refuse() -> None:
    log = FlakyLog()
    writer = LogWriter(SimpleNamespace(interactions=log), Broker(), "int_1", 1)  # type: ignore[arg-type]
    background = writer.soon(status())
    with pytest.raises(InfraError, match="earlier write"):
        await writer(status())
    with pytest.raises(ConnectionError):
        await background
    with pytest.raises(InfraError, match="earlier write"):
        await writer.many([status(), status()])
    assert log.calls == 1 and log.appended == []  # nothing written after the hole


async def test_a_writer_whose_writes_succeed_writes_them_in_order() -> None:
    log = FlakyLog()
    log.calls = 1  # past the failing call
    writer = LogWriter(SimpleNamespace(interactions=log), Broker(), "int_1", 1)  # type: ignore[arg-type]
    first = writer.soon(status())
    await writer.many([status(), status()])
    await first
    assert [len(batch) for batch in log.appended] == [1, 2]
