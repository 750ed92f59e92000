from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.local import LocalProvider, LocalSandbox


@pytest.fixture
async def box() -> AsyncIterator[LocalSandbox]:
    async with LocalProvider() as provider:
        sandbox = await provider.create(SandboxSpec())
        async with sandbox:
            yield sandbox
