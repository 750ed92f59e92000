"""A local sandbox (sandboxd's app in-process over a temporary workspace) per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.client import SandboxdClient
from runtime.sandbox.local import LocalProvider, LocalSandbox


@pytest.fixture
async def box() -> AsyncIterator[LocalSandbox]:
    async with LocalProvider() as provider:
        sandbox = await provider.create(SandboxSpec())
        yield sandbox


@pytest.fixture
def client(box: LocalSandbox) -> SandboxdClient:
    return box.client
