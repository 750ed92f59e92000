"""The CI entry point: a scripted research run that writes and runs a script, reads a page served
inside the box in the browser and writes report.md; plus every exit code path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_harness import hangar, with_model

from runtime.llm import call, turn
from runtime.llm.fake_server import FakeGemini
from runtime.llm.script import contains_text, has_function_response

pytestmark = [pytest.mark.docker, pytest.mark.browser]

AGENT = """\
id: e2e-researcher
base_agent: antigravity
description: test agent
agent_config: {{model: gemini-test}}
outputs: [report.md]
limits: {{max_steps: {steps}, wall_time_s: 120}}
"""

PAGE = (
    "<html><head><title>Prices</title></head>"
    "<body><h1>Widget prices</h1><p>Blue widget costs 17 euros.</p></body></html>"
)
SERVE = (
    "cd site && (python3 -m http.server 8765 --bind 127.0.0.1 >/dev/null 2>&1 &) && "
    "for i in $(seq 50); do curl -sf http://127.0.0.1:8765/ >/dev/null && break; sleep 0.1; done; "
    "echo serving"
)


def agent_file(tmp_path: Path, steps: int = 20) -> Path:
    path = tmp_path / "e2e.yaml"
    path.write_text(AGENT.format(steps=steps))
    return path


def found(text: str):  # type: ignore[no-untyped-def]
    return lambda request: text in json.dumps(request["contents"][-1])


SCRIPT = [
    turn(
        thought="Plan first.",
        calls=[call("update_artifact", artifact="plan", content="- [ ] compute\n- [ ] read", id="p1")],
    ),
    turn(
        calls=[call("write_file", path="calc.py", content="print('sum =', sum(range(101)))", id="w1")],
        expect=has_function_response("p1"),
    ),
    turn(calls=[call("shell", command="python3 calc.py", id="s1")], expect=has_function_response("w1")),
    turn(
        calls=[call("write_file", path="site/index.html", content=PAGE, id="w2")], expect=found("sum = 5050")
    ),
    turn(calls=[call("shell", command=SERVE, id="s2")]),
    turn(
        calls=[call("browser", action="navigate", url="http://127.0.0.1:8765/", id="b1")],
        expect=found("serving"),
    ),
    turn(calls=[call("browser", action="read", id="b2")], expect=found("Prices")),
    turn(
        calls=[
            call(
                "write_file",
                path="report.md",
                content="# Report\n\nsum = 5050; blue widget: 17 euros.",
                id="w3",
            )
        ],
        expect=found("Blue widget costs 17 euros"),
    ),
    turn("Done: the report is in report.md.", expect=has_function_response("w3")),
]


async def test_scripted_research_run(tmp_path: Path, run_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    async with FakeGemini(SCRIPT) as fake:
        ran = await hangar(
            "run",
            str(agent_file(tmp_path)),
            "Compute and research; write report.md",
            "--output-dir",
            str(out),
            env=with_model(run_env, fake.base_url),
        )
        fake.assert_done()
    assert ran.code == 0, ran.stderr + ran.stdout
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "completed" and result["exit_code"] == 0
    assert len(result["agent_hash"]) == 64 and result["usage"]["total_tokens"] >= 0
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    kinds = [st["type"] for st in steps]
    assert kinds[:3] == ["user_input", "thought", "function_call"]
    assert kinds.count("code_execution_call") == 2 and kinds.count("code_execution_result") == 2
    assert kinds[-1] == "model_output"
    code_results = [st for st in steps if st["type"] == "code_execution_result"]
    assert "sum = 5050" in code_results[0]["result"]
    page = [st for st in steps if st["type"] == "function_result" and st.get("name") == "browser"][-1]
    assert "Blue widget costs 17 euros" in page["result"]
    assert (out / "files" / "report.md").read_text().startswith("# Report")
    assert (out / "files" / "plan.md").is_file()
    assert "completed" in (out / "summary.md").read_text()
    assert "Done: the report is in report.md." in ran.stdout


async def test_missing_output_fails_with_reason(tmp_path: Path, run_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    # One reminder naming the missing file, then the run fails if it is still missing.
    script = [turn("I did nothing."), turn("Still nothing.", expect=contains_text("missing: report.md"))]
    async with FakeGemini(script) as fake:
        ran = await hangar(
            "run",
            str(agent_file(tmp_path)),
            "task",
            "-o",
            str(out),
            "--quiet",
            env=with_model(run_env, fake.base_url),
        )
        fake.assert_done()
    assert ran.code == 1
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "failed" and "report.md" in result["reason"]


async def test_step_budget_exit_code(tmp_path: Path, run_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    script = [turn(calls=[call("list_files", id="l1")]), turn(calls=[call("list_files", id="l2")])]
    async with FakeGemini(script) as fake:
        ran = await hangar(
            "run",
            str(agent_file(tmp_path, steps=2)),
            "loop",
            "-o",
            str(out),
            "--json",
            env=with_model(run_env, fake.base_url),
        )
    assert ran.code == 3
    events = [json.loads(line) for line in ran.stdout.splitlines()]
    assert events[-1]["event"] == "result" and events[-1]["status"] == "budget_exceeded"
    assert [e["step"]["type"] for e in events if e["event"] == "step"][:2] == [
        "function_call",
        "function_result",
    ]


async def test_missing_credentials_fail_before_any_sandbox(tmp_path: Path, run_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    ran = await hangar("run", str(agent_file(tmp_path)), "task", "-o", str(out), env=run_env)
    assert ran.code == 2
    result = json.loads((out / "result.json").read_text())
    assert "GEMINI_API_KEY" in result["reason"] and result["sandbox_id"] is None


async def test_bad_usage_exit_code(tmp_path: Path, run_env: dict[str, str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nsytem_instruction: typo\n")
    ran = await hangar("run", str(bad), "task", env=run_env)
    assert ran.code == 2 and "sytem_instruction" in ran.stderr and "Traceback" not in ran.stderr


async def test_custom_agent_with_skill_and_data_source(tmp_path: Path, run_env: dict[str, str]) -> None:
    """The shipped example extends antigravity with a read-only skill and a data source."""
    out = tmp_path / "out"
    script = [
        turn(calls=[call("shell", command="head -2 /skills/changelog/SKILL.md; ls release-style", id="s1")]),
        turn(calls=[call("shell", command="touch /skills/changelog/x", id="s2")], expect=found("STYLE.md")),
        turn(
            calls=[
                call("write_file", path="RELEASE_NOTES.md", content="# 1.0\n", id="w1"),
                call("update_artifact", artifact="walkthrough", content="# Walkthrough\n", id="w2"),
            ],
            expect=found("Read-only file system"),
        ),
        turn("Release notes written."),
    ]
    async with FakeGemini(script) as fake:
        ran = await hangar(
            "run", "release-notes", "notes for 1.0", "-o", str(out), env=with_model(run_env, fake.base_url)
        )
        fake.assert_done()
    assert ran.code == 0, ran.stderr + ran.stdout
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    first = next(st for st in steps if st["type"] == "code_execution_result")
    assert "name: changelog" in first["result"] and "STYLE.md" in first["result"]
    assert (out / "files" / "RELEASE_NOTES.md").read_text() == "# 1.0\n"


async def test_infrastructure_failure_before_the_run_exit_code(
    tmp_path: Path, run_env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    env = with_model(run_env, "http://127.0.0.1:9/") | {"HANGAR_SANDBOX_IMAGE": "hangar-sandbox:not-built"}
    ran = await hangar("run", str(agent_file(tmp_path)), "task", "-o", str(out), env=env)
    assert ran.code == 7, ran.stderr + ran.stdout
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "failed" and "image" in result["reason"] and result["sandbox_id"] is None


SOURCES_AGENT = """\
id: sourced
base_agent: antigravity
agent_config: {model: gemini-test}
limits: {max_steps: 6, wall_time_s: 120}
base_environment:
  sources:
    - {type: inline, target: /workspace/templates/hello.txt, content: "hello from the source"}
    - {type: inline, target: notes/todo.md, content: "- ship it"}
  env: {GREETING: bonjour}
"""


async def test_base_environment_sources_are_in_the_workspace(tmp_path: Path, run_env: dict[str, str]) -> None:
    """``hangar run`` places the agent's ``base_environment`` sources as the server does (and its env)."""
    agent = tmp_path / "sourced.yaml"
    agent.write_text(SOURCES_AGENT)
    out = tmp_path / "out"
    look = "cat templates/hello.txt notes/todo.md; echo \"[$GREETING]\""
    script = [
        turn(calls=[call("shell", command=look, id="s1")]),
        turn("Seen.", expect=found("hello from the source- ship it[bonjour]")),
    ]
    async with FakeGemini(script) as fake:
        ran = await hangar("run", str(agent), "look", "-o", str(out), env=with_model(run_env, fake.base_url))
        fake.assert_done()
    assert ran.code == 0, ran.stderr + ran.stdout
    assert json.loads((out / "result.json").read_text())["status"] == "completed"


async def test_a_source_that_cannot_be_placed_is_bad_usage(tmp_path: Path, run_env: dict[str, str]) -> None:
    agent = tmp_path / "gcs.yaml"
    agent.write_text(
        SOURCES_AGENT.replace("type: inline, target: notes/todo.md", "type: gcs, target: notes/todo.md")
    )
    async with FakeGemini([]) as fake:
        ran = await hangar("run", str(agent), "look", env=with_model(run_env, fake.base_url))
    assert ran.code == 2, ran.stderr + ran.stdout
    said = ran.stdout + ran.stderr
    assert "base_environment.sources[1].type" in said and "Traceback" not in said
