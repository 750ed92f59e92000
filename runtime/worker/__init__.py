"""Background execution: lease-based claiming, heartbeats, the event log writer and live pub/sub."""

from __future__ import annotations

from runtime.worker.broker import Broker
from runtime.worker.runner import (
    Emit,
    InteractionConfig,
    RunInput,
    Runner,
    RunnerRegistry,
    RunResult,
    StepWriter,
)
from runtime.worker.worker import AGENT_NOT_WIRED, Worker

__all__ = [
    "AGENT_NOT_WIRED",
    "Broker",
    "Emit",
    "InteractionConfig",
    "RunInput",
    "RunResult",
    "Runner",
    "RunnerRegistry",
    "StepWriter",
    "Worker",
]
