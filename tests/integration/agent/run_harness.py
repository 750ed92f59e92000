"""Runs the real ``hangar`` CLI in a subprocess (see conftest.py for the environment it gets)."""

from __future__ import annotations

from typing import Any

from harness.cli import hangar_cli

hangar = hangar_cli
"""The CLI in a subprocess (the shared runner, under this folder's name for it)."""

__all__ = ["hangar", "with_model"]


def with_model(env: dict[str, str], base_url: str) -> dict[str, Any]:
    return env | {"GEMINI_API_KEY": "fake-key", "HANGAR_GEMINI_BASE_URL": base_url}
