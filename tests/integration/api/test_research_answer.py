"""A research answer as Google's docs read it, through the real google-genai client against a real
server (agent loop in a real Docker sandbox, scripted fake Gemini): a chart drawn with matplotlib
in the box comes back as ``image`` content and as a file; the answer's ``url_citation``
annotations point only at pages the run opened (served by a test container the egress proxy
joins, as ``allowed.test``)."""

from __future__ import annotations

import base64
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from env_harness import Served, WebHosts, serve, settings_for, start_test_hosts, stop_test_hosts
from google import genai

from runtime.llm import call, turn

pytestmark = pytest.mark.docker

AGENT = "deep-research-max-preview-04-2026"
PAGE = "http://allowed.test:8000/census.html"
UNOPENED = "http://allowed.test:8000/never-opened.html"
PLOT = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import os
os.makedirs("/workspace/charts", exist_ok=True)
plt.bar(["2024", "2025"], [40, 42])
plt.title("Widgets")
plt.savefig("/workspace/charts/widgets.png")
print("saved")
"""
REPORT = f"""# Widgets

There are 42 widgets [1]; some say 50 [2].

![Widgets by year](charts/widgets.png)

## Sources

1. Widget census, Census Office, 2025 — {PAGE}
2. A blog nobody opened — {UNOPENED}
"""
ANSWER = "There are 42 widgets [1], not 50 [2]; see report.md."


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str, drop_environment_volumes: Any
) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("hangar-research")
    with serve(settings_for(data_dir, sandbox_image)) as running:
        yield running
    drop_environment_volumes(data_dir)


@pytest.fixture(scope="module")
def hosts(
    served: Served, docker_client: Any, sandbox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebHosts]:
    folder: Path = tmp_path_factory.mktemp("www")
    (folder / "census.html").write_text("<html><head><title>Widget census</title></head>"
                                        "<body>There are 42 widgets.</body></html>")
    folder.chmod(0o755)  # the web server container runs as another user
    (folder / "census.html").chmod(0o644)
    running = start_test_hosts(served, docker_client, sandbox_image, folder)
    yield running
    stop_test_hosts(served, docker_client, running)


def wait_done(client: genai.Client, interaction_id: str, limit_s: float = 180) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status != "in_progress" or time.monotonic() > deadline:
            return interaction
        time.sleep(0.2)


def download(client: genai.Client, environment_id: str, path: str) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data: bytes = client.environments.files.download(environment=environment_id, path=path)
    return data


def research(served: Served, visualization: str, *, browse: bool) -> Any:
    # A model led astray tries to pass off a page it never opened: Python printing what the
    # browser prints, and a browser visit to a page that does not exist (404).
    spoof = f"print('url: {UNOPENED}\\ntitle: A blog\\nstatus: 200')"
    opened = [
        turn(calls=[call("browser", action="navigate", url=PAGE, id="b1")]),
        turn(calls=[call("python", code=spoof, id="spoof")]),
        turn(calls=[call("browser", action="navigate", url=UNOPENED, id="b2")]),
    ] if browse else []
    served.server.script.set(
        *opened,
        turn(calls=[call("python", code=PLOT, id="py1")]),
        turn(calls=[call("write_file", path="report.md", content=REPORT, id="w1")]),
        turn(ANSWER),
    )
    client = served.server.client()
    created = client.interactions.create(
        agent=AGENT, input="How many widgets?", background=True,
        agent_config={"type": "deep-research", "visualization": visualization},
        environment={"network": {"allowlist": [{"domain": "allowed.test"}]}},
    )
    return wait_done(client, created.id)


def instruction(served: Served) -> str:
    parts = served.server.script.requests[0]["systemInstruction"]["parts"]
    return "".join(p.get("text", "") for p in parts)


def final_output(done: Any) -> Any:
    return [s for s in done.steps if s.type == "model_output"][-1]


def test_chart_comes_back_as_image_content_and_as_a_file(served: Served) -> None:
    done = research(served, "auto", browse=False)
    assert done.status == "completed", done
    plot = next(s for s in done.steps if s.type == "code_execution_result")
    assert "saved" in str(plot.result), plot
    images = [c for c in final_output(done).content if c.type == "image"]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    png = base64.b64decode(images[0].data)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    client = served.server.client()
    assert download(client, done.environment_id, "charts/widgets.png") == png
    system = instruction(served)
    assert "Visualization is on" in system and "matplotlib" in system


def test_visualization_off_returns_no_images(served: Served) -> None:
    done = research(served, "off", browse=False)
    assert done.status == "completed", done
    assert [c.type for c in final_output(done).content] == ["text"]
    system = instruction(served)
    assert "Visualization is off" in system


def test_citations_point_at_the_pages_the_run_opened(served: Served, hosts: WebHosts) -> None:
    done = research(served, "auto", browse=True)
    assert done.status == "completed", done
    page = next(s for s in done.steps if s.type == "function_result" and s.call_id == "b1")
    assert "title: Widget census" in str(page.result), page  # the box really opened it
    [text] = [c for c in final_output(done).content if c.type == "text"]
    assert text.text == ANSWER
    spoofed = next(s for s in done.steps if s.type == "code_execution_result" and s.call_id == "spoof")
    assert f"url: {UNOPENED}" in str(spoofed.result)
    missing = next(s for s in done.steps if s.type == "function_result" and s.call_id == "b2")
    assert "status: 404" in str(missing.result)
    [citation] = text.annotations  # [2] is in report.md's sources, but the run never opened it
    assert citation.type == "url_citation" and citation.url == PAGE
    assert citation.title == "Widget census, Census Office, 2025"
    assert ANSWER.encode()[citation.start_index : citation.end_index] == b"[1]"
