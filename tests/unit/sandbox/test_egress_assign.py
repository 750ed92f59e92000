"""Assigning a rule to a pooled box: a rule that cannot be written is an ``InfraError`` (the pool
falls back to a cold box), never a raw ``OSError`` that fails the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.errors import InfraError
from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.egress import EgressProxy


async def test_a_rule_that_cannot_be_written_is_an_infra_error(tmp_path: Path) -> None:
    engine: Any = None  # never reached: assign only writes the rule
    proxy = EgressProxy(engine, namespace="ns1", state_dir=tmp_path / "missing", private_hosts=(),
                        image=None, runtime=None, init=True)
    proxy._mine.add("box1")  # registered (its policy directory is gone: the write fails)
    spec = SandboxSpec(network="allowlist", allowed_domains=("example.com",))
    with pytest.raises(InfraError, match="could not write the egress rule of sandbox box1"):
        await proxy.assign("box1", spec)
