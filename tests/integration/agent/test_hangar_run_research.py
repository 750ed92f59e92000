"""``hangar run`` of a Deep Research agent, as a scheduled CI job uses it: the model (scripted)
opens a page served inside the box in the browser, draws a chart with matplotlib, writes report.md
with a numbered source list; the output folder holds the report with its chart next to it, the
answer's citations in steps.jsonl, and result.json lists the cited source."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from run_harness import hangar, with_model

from runtime.llm import call, turn
from runtime.llm.fake_server import FakeGemini

pytestmark = [pytest.mark.docker, pytest.mark.browser]

AGENT = """\
id: ci-research
base_agent: deep-research-max
description: test research agent
agent_config: {model: gemini-test}
sandbox: {network: none}
limits: {max_steps: 20, wall_time_s: 180}
"""
URL = "http://127.0.0.1:8765/census.html"
SERVE = """
import os, subprocess, time, urllib.request
os.makedirs("/workspace/site", exist_ok=True)
open("/workspace/site/census.html", "w").write(
    "<html><head><title>Widget census</title></head><body>42 widgets.</body></html>")
server = ["python3", "-m", "http.server", "8765", "--bind", "127.0.0.1", "--directory", "/workspace/site"]
subprocess.Popen(server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(50):
    try:
        urllib.request.urlopen("http://127.0.0.1:8765/census.html"); break
    except OSError:
        time.sleep(0.1)
print("serving")
"""
PLOT = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
os.makedirs("/workspace/charts", exist_ok=True)
plt.plot([2024, 2025], [40, 42]); plt.savefig("/workspace/charts/widgets.png"); print("plotted")
"""
REPORT = f"""# Widgets

42 widgets [1].

![Widgets](charts/widgets.png)

## Sources

1. Widget census — {URL}
"""
SCRIPT = [
    turn(calls=[call("python", code=SERVE, id="py1")]),
    turn(calls=[call("browser", action="navigate", url=URL, id="b1")]),
    turn(calls=[call("python", code=PLOT, id="py2")]),
    turn(calls=[call("write_file", path="report.md", content=REPORT, id="w1")]),
    turn("There are 42 widgets [1]."),
]


async def test_research_run_leaves_report_charts_and_sources(tmp_path: Path, run_env: dict[str, str]) -> None:
    agent = tmp_path / "ci-research.yaml"
    agent.write_text(AGENT)
    out = tmp_path / "out"
    async with FakeGemini(SCRIPT) as fake:
        env = with_model(run_env, fake.base_url)
        ran = await hangar("run", str(agent), "How many widgets?", "--output-dir", str(out), env=env)
        fake.assert_done()
    assert ran.code == 0, ran.stderr + ran.stdout
    files = out / "files"
    assert (files / "report.md").read_text() == REPORT
    png = (files / "charts" / "widgets.png").read_bytes()  # next to report.md, where its link points
    assert png.startswith(b"\x89PNG")
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "completed"
    assert result["sources"] == [{"url": URL, "title": "Widget census"}]
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    final = steps[-1]
    assert final["type"] == "model_output"
    text, image = final["content"]
    assert text["annotations"][0]["url"] == URL and text["annotations"][0]["type"] == "url_citation"
    assert image["type"] == "image" and base64.b64decode(image["data"]) == png
