"""Test-wide rules: real model calls are impossible (API keys cleared), structlog quiet."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_real_model_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
