"""The real ``hangar serve`` (the installed console script, in a subprocess) refuses a removed
setting, and an unknown ``HANGAR_*`` name, at start-up: exit code 2, one line naming the variable
and what to use instead, no traceback, no server. The same environment without it serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HANGAR = str(Path(sys.executable).with_name("hangar"))
LIMIT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE", "HANGAR_"))}
    return env | {
        "HANGAR_DATA_DIR": str(tmp_path), "HANGAR_PORT": str(port), "HANGAR_SANDBOXES": "false",
        "HANGAR_API_KEY": "hk_settings_test",
    }


def refused(command: list[str], env: dict[str, str]) -> str:
    """Runs ``command``, which must fail with the usage exit code; returns its stderr."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=LIMIT_S, check=False)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_serve_refuses_the_removed_webhook_signing_secret(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(tmp_path, port) | {"HANGAR_WEBHOOK_SIGNING_SECRET": "whsec_still_set"}
    line = refused([HANGAR, "serve"], env)
    assert line.startswith("error (invalid_setting): HANGAR_WEBHOOK_SIGNING_SECRET was removed")
    assert "HANGAR_WEBHOOK_JWT_KEY_FILE" in line
    assert "whsec_still_set" not in line
    assert not (tmp_path / "hangar.db").exists(), "nothing started"


def test_serve_refuses_an_unknown_name_with_the_nearest_setting(tmp_path: Path) -> None:
    env = base_env(tmp_path, free_port()) | {"HANGAR_WORKER_CONCURENCY": "4"}
    line = refused([HANGAR, "serve"], env)
    assert line == (
        "error (invalid_setting): HANGAR_WORKER_CONCURENCY is not a Hangar setting "
        "(did you mean HANGAR_WORKER_CONCURRENCY?)"
    )
    other_command = refused([HANGAR, "keys", "list"], env | {"HANGAR_DATA_DIRS": "x"})
    assert "did you mean HANGAR_DATA_DIR?" in other_command


def test_the_same_environment_without_it_serves(tmp_path: Path) -> None:
    port = free_port()
    with (tmp_path / "err").open("wb") as err:
        process = subprocess.Popen([HANGAR, "serve"], env=base_env(tmp_path, port), stdout=err, stderr=err)
    try:
        deadline = time.monotonic() + LIMIT_S
        answered = False
        while not answered and process.poll() is None and time.monotonic() < deadline:
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.1)
        assert answered, (tmp_path / "err").read_text()
    finally:
        process.terminate()
        process.wait(LIMIT_S)
