"""The ``hangar`` CLI in a subprocess, and a real Hangar server (with a scripted model) in a thread."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from runtime.cli.local_server import LocalServer
from runtime.config import Settings
from runtime.llm.fake_server import FakeGemini
from runtime.llm.script import JsonDict, ScriptedTurn

REPO = Path(__file__).resolve().parents[3]
DEV_KEY = "hk_cli_test_key"


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


async def hangar(*args: str, env: dict[str, str], limit_s: float = 240) -> Ran:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime.cli", *args, env=env, cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    return Ran(proc.returncode if proc.returncode is not None else -1, out.decode(), err.decode())


@dataclass
class Script:
    """The fake model's next answers (tests set them; the server thread pops them)."""

    turns: list[ScriptedTurn] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, *turns: ScriptedTurn) -> None:
        with self.lock:
            self.turns = list(turns)

    def respond(self, request: JsonDict) -> ScriptedTurn:
        with self.lock:
            if not self.turns:
                raise AssertionError("the fake model got an unexpected call")
            return self.turns.pop(0)


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
