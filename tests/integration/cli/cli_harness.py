"""The ``hangar`` CLI in a subprocess, and a real Hangar server (with a scripted model) in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from harness.cli import REPO, hangar_cli
from harness.script import Script

from runtime.cli.local_server import LocalServer
from runtime.config import Settings
from runtime.llm.fake_server import FakeGemini

DEV_KEY = "hk_cli_test_key"
hangar = hangar_cli
"""The CLI in a subprocess (the shared runner, under this folder's name for it)."""

__all__ = ["DEV_KEY", "REPO", "Script", "Server", "hangar", "server_thread"]


@dataclass
class Server:
    url: str
    script: Script


@contextmanager
def server_thread(settings: Settings) -> Iterator[Server]:
    """A Hangar server (``LocalServer``) on its own event loop in a thread, its model scripted."""
    script = Script()
    ready = threading.Event()
    stop: asyncio.Event | None = None
    holder: dict[str, str] = {}
    loop = asyncio.new_event_loop()

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with FakeGemini(script.respond) as fake:
            local = settings.model_copy(update={"gemini_base_url": fake.base_url})
            async with LocalServer(local) as server:
                holder["url"] = server.url
                ready.set()
                await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(60), "Hangar did not start"
    try:
        yield Server(url=holder["url"], script=script)
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
