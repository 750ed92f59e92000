"""Attacks on the API's input boundary, against a real ``hangar serve`` process on loopback.

The server allows exactly two loopback receivers (``127.0.0.1:<port>`` entries of
``HANGAR_OUTBOUND_ALLOW_HOSTS``); every other local address — the "internal" server included —
must be refused. Tests act as a second tenant (``other``) or without a key."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration" / "api"))

from recorders import Recorder, Reply
from server_process import API_KEY, ServerProcess, fake_gemini

from runtime.config import Settings
from runtime.llm.script import forever, turn
from runtime.store import Store

METRICS_TOKEN = "mt_security_tests_token"
INTERNAL_SECRET = "INTERNAL-SECRET-d41d8cd9"


@dataclass
class Target:
    server: ServerProcess
    other_key: str
    """A second tenant's key."""
    dev_key: str
    internal: Recorder
    """Loopback service that nothing may reach."""
    receiver: Recorder
    """Allowed receiver."""
    redirector: Recorder
    """Allowed, but answers 302 to ``internal``."""

    @property
    def url(self) -> str:
        return self.server.url

    def log(self) -> str:
        return (self.server.data_dir / "server.log").read_text(errors="replace")


async def _other_key(data_dir: Path) -> str:
    store = Store(Settings(data_dir=data_dir).resolved_database_url)
    await store.open()
    try:
        _, plaintext = await store.keys.create("other-project", "other")
        return plaintext
    finally:
        await store.close()


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data_dir = tmp_path_factory.mktemp("security-api")
    internal_reply = Reply(body=INTERNAL_SECRET.encode())
    with (
        Recorder(internal_reply) as internal,
        Recorder() as receiver,
        Recorder() as redirector,
        fake_gemini(forever(turn("done"))) as fake,
    ):
        redirector.reply = Reply(status=302, body=b"", headers={"location": internal.url("/steal")})
        other = asyncio.run(_other_key(data_dir))
        env = {
            "HANGAR_SANDBOXES": "false",
            "HANGAR_POLL_SECONDS": "0.2",
            "HANGAR_WEBHOOK_RETRY_SECONDS": "0.05",
            "HANGAR_WEBHOOK_MAX_ATTEMPTS": "2",
            "HANGAR_METRICS_TOKEN": METRICS_TOKEN,
            "HANGAR_OUTBOUND_ALLOW_HOSTS": f"127.0.0.1:{receiver.port},127.0.0.1:{redirector.port}",
        }
        server = ServerProcess(data_dir, fake.base_url, env=env)
        server.start()
        try:
            yield Target(server, other, API_KEY, internal, receiver, redirector)
        finally:
            server.stop()
