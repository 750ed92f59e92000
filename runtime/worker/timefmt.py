"""Timestamps on the wire: ISO 8601 UTC, ``YYYY-MM-DDThh:mm:ssZ`` (spec §4)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
