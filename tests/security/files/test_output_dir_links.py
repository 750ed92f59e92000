"""The agent attacks the host through ``hangar run --output-dir``: the real CLI runs a real box in
which the (scripted) model builds a hostile tree: a chain of symbolic links harmless link by link
that together point at a host file next to the output folder, absolute and upward links, a hard
link (which arrives as a copy). The real extraction on the host must leave nothing through which
a file outside the output folder is reachable."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from files_harness import hangar_cli

from runtime.llm import call, turn
from runtime.llm.fake_server import FakeGemini
from runtime.llm.script import has_function_response

pytestmark = pytest.mark.docker

AGENT = """\
id: hostile-outputs
base_agent: antigravity
description: builds a hostile workspace
agent_config: {model: gemini-test}
limits: {max_steps: 5, wall_time_s: 120}
"""

# Extracted at OUT/files/work: B -> ../.. is OUT/files/work, so A -> B/../../../secret.txt is
# OUT/../secret.txt, the host file below. Checked one at a time (A while B is missing, then B)
# each looks like it stays inside.
HOSTILE = (
    "mkdir -p work/p/q && cd work && echo data > real.txt && "
    "ln -s B/../../../secret.txt p/q/A && ln -s ../.. p/q/B && "
    "ln -s /etc/passwd abs && ln -s ../../../.. up && ln real.txt hard.txt && echo built"
)


def _reachable_outside(out: Path) -> list[str]:
    """Everything under ``out`` that is a link, resolves outside it, or shares an inode."""
    bad = []
    root = out.resolve()
    for dirpath, dirnames, filenames in os.walk(out):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_symlink() or not path.resolve().is_relative_to(root):
                bad.append(str(path))
            elif path.is_file() and st.st_nlink != 1:
                bad.append(f"{path} (hard link)")
    return bad


async def test_links_from_the_box_never_reach_the_host(tmp_path: Path, run_env: dict[str, str]) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")
    agent = tmp_path / "hostile.yaml"
    agent.write_text(AGENT)
    out = tmp_path / "out"
    script = [
        turn(calls=[call("shell", command=HOSTILE, id="h1")]),
        turn("Done.", expect=has_function_response("h1")),
    ]
    async with FakeGemini(script) as fake:
        ran = await hangar_cli(
            "run", str(agent), "build it", "--output-dir", str(out), "--fetch", "work", "--quiet",
            env=run_env | {"GEMINI_API_KEY": "fake-key", "HANGAR_GEMINI_BASE_URL": fake.base_url},
        )
        assert fake.requests, ran.stderr + ran.stdout
        fake.assert_done()
    result = json.loads((out / "result.json").read_text())
    assert "work" in result["files"], ran.stderr + ran.stdout
    assert (out / "files" / "work" / "real.txt").read_text() == "data\n"
    assert (out / "files" / "work" / "hard.txt").read_text() == "data\n"  # a copy, not a link
    assert _reachable_outside(out) == []
    assert secret.read_text() == "host secret\n"
    note = result.get("files_note", "")
    for name in ("work/p/q/A", "work/p/q/B", "work/abs", "work/up"):
        assert f"{name} (a link" in note, note
