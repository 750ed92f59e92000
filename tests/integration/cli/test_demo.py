"""``hangar demo`` end to end: the CLI in a subprocess, its in-process server, a real sandbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cli_harness import REPO, hangar

pytestmark = [pytest.mark.docker, pytest.mark.browser, pytest.mark.slow]


async def test_demo_shows_a_whole_scripted_run(
    cli_env: dict[str, str], drop_environment_volumes: Callable[[Path], None], tmp_path: Path
) -> None:
    out = tmp_path / "demo-files"
    try:
        ran = await hangar("demo", "--out", str(out), env=cli_env)
    finally:  # the demo keeps its workspace for the person to look at; the test does not
        drop_environment_volumes(Path(cli_env["HANGAR_DATA_DIR"]) / "demo")
    assert ran.code == 0, ran.stderr + ran.stdout
    # The files land where the user said, not in the current directory (the repository here).
    assert (out / "report.md").read_text().strip()
    assert f"Files downloaded to {out}" in ran.stdout.replace("\n", "")
    assert not (REPO / "hangar-demo").exists()
    stdout = ran.stdout
    assert "SCRIPTED DEMO" in stdout
    for seen in (
        "▶ python",  # the Python session
        "sum=5050 mean=50.5",
        "serving site/ on http://127.0.0.1:8765/ as agent",  # the shell, a page served in the box
        "▶ browser",
        "The sum is 5050 and the mean is 50.5.",  # read back by the browser
        "report.md",
        "completed",
    ):
        assert seen in stdout, f"{seen!r} not in the demo's output:\n{stdout}"
    assert "Docker volume hangar-ws-" in stdout  # where the files are
    assert "Traceback" not in ran.stderr
