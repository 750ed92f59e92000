from __future__ import annotations

import time

import pytest

from runtime.service.read_cache import ReadCache


def test_entries_expire_and_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache: ReadCache[int] = ReadCache(ttl_seconds=2, max_entries=2)
    cache.put(("p", "a"), 1)
    cache.put(("p", "b"), 2)
    cache.put(("p", "c"), 3)
    assert cache.get(("p", "a")) is None and cache.get(("p", "c")) == 3  # oldest evicted
    now[0] += 2.5
    assert cache.get(("p", "c")) is None


def test_forget_by_prefix() -> None:
    cache: ReadCache[int] = ReadCache()
    cache.put(("p", "a", "True"), 1)
    cache.put(("p", "a", "False"), 2)
    cache.put(("p", "b", "False"), 3)
    cache.forget("p", "a")
    assert cache.get(("p", "a", "True")) is None and cache.get(("p", "a", "False")) is None
    assert cache.get(("p", "b", "False")) == 3


def test_zero_ttl_disables() -> None:
    cache: ReadCache[int] = ReadCache(ttl_seconds=0)
    cache.put(("k",), 1)
    assert cache.get(("k",)) is None
