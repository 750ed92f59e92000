"""Fixtures for GeminiClient against FakeGemini: the real google-genai client over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from runtime.llm import GeminiClient, RetryPolicy
from runtime.llm.fake_server import FakeGemini


@pytest.fixture(autouse=True)
def _no_ambient_model_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_GENAI_API_VERSION",
                "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_HTTP_CLIENT"):
        monkeypatch.delenv(var, raising=False)


class RecordingSleep:
    """Stands in for ``asyncio.sleep`` in the retry loop: records the delays, waits for none."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def clients(sleeps: RecordingSleep) -> AsyncIterator[Callable[..., GeminiClient]]:
    """``clients(fake, **options)``: a GeminiClient on the fake, closed after the test."""
    made: list[GeminiClient] = []

    def make(fake: FakeGemini, **options: Any) -> GeminiClient:
        options.setdefault("retry", RetryPolicy(attempts=3, initial_delay_s=0.0, max_delay_s=5.0))
        client = GeminiClient(api_key="fake-key", base_url=fake.base_url, sleep=sleeps, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()

