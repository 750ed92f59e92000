"""A Hangar server as a separate process (``python -m runtime.cli serve``) that a test can
``kill -9`` and restart on the same data dir, with the fake Gemini running in a thread of the test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from google import genai
from google.genai import types

from runtime.llm.fake_server import FakeGemini
from runtime.llm.script import ResponseFunction, ScriptedTurn

API_KEY = "hk_test_crash_key"


@contextlib.contextmanager
def fake_gemini(script: list[ScriptedTurn] | ResponseFunction) -> Iterator[FakeGemini]:
    """A started :class:`FakeGemini` serving from its own event loop in a daemon thread."""
    fake = FakeGemini(script)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(20)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    data_dir: Path
    model_url: str
    env: dict[str, str] = field(default_factory=dict)
    """Extra ``HANGAR_*`` settings."""
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_name: str = "server.log"
    """The log file in ``data_dir`` (servers sharing a data dir each write their own)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> genai.Client:
        return genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=self.url))

    def start(self, timeout: float = 60) -> None:
        env = {
            **os.environ,
            "HANGAR_DATA_DIR": str(self.data_dir),
            "HANGAR_API_KEY": API_KEY,
            "HANGAR_PORT": str(self.port),
            "HANGAR_GEMINI_BASE_URL": self.model_url,
            "GEMINI_API_KEY": "fake",
            **self.env,
        }
        log = (self.data_dir / self.log_name).open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"Hangar exited at start-up:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"Hangar did not start:\n{self.log_tail()}")

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 60) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log_tail(self, lines: int = 60) -> str:
        path = self.data_dir / self.log_name
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
