"""The real ``hangar`` CLI in a subprocess (``python -m runtime.cli`` from the checkout)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


async def hangar_cli(*args: str, env: dict[str, str], limit_s: float = 240) -> Ran:
    """Runs ``hangar ARGS`` with exactly ``env`` (the caller builds it), stdin closed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime.cli", *args, env=env, cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    return Ran(proc.returncode if proc.returncode is not None else -1, out.decode(), err.decode())
