"""A real ``hangar serve`` with stderr not a terminal (a service) writes only JSON lines there,
uvicorn's start-up, access and shutdown lines included, and no line shows an API key, given as
``?key=`` or as the dev key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from server_process import API_KEY, fake_gemini, free_port

from runtime.llm.script import forever, turn


def test_every_stderr_line_is_json_and_the_access_log_shows_no_key(tmp_path: Path) -> None:
    port = free_port()
    with fake_gemini(forever(turn("hello"))) as fake:
        env = {
            **os.environ, "HANGAR_DATA_DIR": str(tmp_path), "HANGAR_API_KEY": API_KEY,
            "HANGAR_PORT": str(port), "HANGAR_GEMINI_BASE_URL": fake.base_url, "GEMINI_API_KEY": "fake",
            "HANGAR_SANDBOXES": "false",
        }
        with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
            command = [sys.executable, "-m", "runtime.cli", "serve"]
            process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            body = {"model": "gemini-3-flash-preview", "input": "hi"}
            done = httpx.post(f"{base}/v1/interactions?key={API_KEY}", json=body, timeout=60)
            assert done.status_code == 200, done.text
            missing = httpx.get(f"{base}/v1/interactions/int_nope", params={"key": API_KEY}, timeout=10)
            assert missing.status_code == 404
        finally:
            process.terminate()
            process.wait(60)
    stderr = (tmp_path / "err").read_text()
    lines = [line for line in stderr.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    assert API_KEY not in stderr and API_KEY not in (tmp_path / "out").read_text()
    events = [r.get("event", "") for r in records]
    assert any("Started server process" in e for e in events), events  # uvicorn's error logger
    assert "hangar.listening" in events
    access = [r for r in records if r.get("event") == "http.request"]
    posted = [r for r in access if r["method"] == "POST"]
    assert posted and posted[0]["status"] == 200 and "key=REDACTED" in posted[0]["path"], access
    assert any(r["status"] == 404 for r in access), access
    assert all(r.get("level") and r.get("timestamp") for r in records), records
