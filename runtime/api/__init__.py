"""The HTTP API, wire-compatible with the Gemini Interactions API."""

from __future__ import annotations

from runtime.api.app import API_VERSIONS, create_app

__all__ = ["API_VERSIONS", "create_app"]
