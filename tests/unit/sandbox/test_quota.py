"""The workspace quota's arithmetic and the measuring script (the container part is in
tests/security/files/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runtime.sandbox.quota import over_quota
from runtime.sandboxd import usage as usage_module
from runtime.sandboxd.usage import Usage, measure


def test_over_quota_names_the_setting() -> None:
    assert over_quota(Usage(bytes=10, entries=1), 10, 1) is None
    assert "HANGAR_WORKSPACE_QUOTA_BYTES" in (over_quota(Usage(bytes=11, entries=1), 10, 1) or "")
    assert "HANGAR_WORKSPACE_QUOTA_ENTRIES" in (over_quota(Usage(bytes=1, entries=2), 10, 1) or "")
    assert over_quota(Usage(bytes=10**12, entries=10**9), None, None) is None


def test_measure_does_not_follow_links_and_stops_at_a_bound(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x" * 10_000)
    (tmp_path / "loop").symlink_to(tmp_path)
    full = measure(str(tmp_path))
    assert (full.entries, full.complete) == (3, True)
    assert full.bytes >= 10_000
    assert not measure(str(tmp_path), stop_entries=1).complete


def test_the_script_runs_isolated_and_prints_one_json_line(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"y" * 5000)
    script = usage_module.__file__
    argv = [sys.executable, "-I", script, str(tmp_path), "1000000", "100"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == {"bytes": measure(str(tmp_path)).bytes, "entries": 1, "complete": True}
