"""The Docker provider's watchdog: stops boxes past their lifetime or idle timeout, and the dead."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from runtime.sandbox.docker_box import DockerSandbox


async def watch_forever(boxes: Callable[[], Iterable[DockerSandbox]], interval_s: float) -> None:
    """Every ``interval_s``: stop each box whose :meth:`~DockerSandbox.expiry_reason` says so."""
    while True:
        await asyncio.sleep(interval_s)
        for box in list(boxes()):
            reason = box.expiry_reason()
            if reason is None:
                continue
            box.log.info("stopping sandbox", reason=reason)
            try:
                await box.stop()
            except Exception as e:
                box.log.warning("watchdog could not stop sandbox", error=str(e))
