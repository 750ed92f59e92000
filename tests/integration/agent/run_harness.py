"""Runs the real ``hangar`` CLI in a subprocess (see conftest.py for the environment it gets)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


async def hangar(*args: str, env: dict[str, str], limit_s: float = 240) -> Ran:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runtime.cli",
        *args,
        env=env,
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    return Ran(proc.returncode if proc.returncode is not None else -1, out.decode(), err.decode())


def with_model(env: dict[str, str], base_url: str) -> dict[str, Any]:
    return env | {"GEMINI_API_KEY": "fake-key", "HANGAR_GEMINI_BASE_URL": base_url}
