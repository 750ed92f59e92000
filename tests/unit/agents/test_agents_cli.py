"""``hangar agents``: exit codes and messages, through typer's CliRunner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from runtime.agents import agent_json_schema_text
from runtime.cli import app

WriteFile = Callable[[str, str], Path]
AGENTS_DIR = Path(__file__).resolve().parents[3] / "agents"

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("HANGAR_AGENTS_DIR", raising=False)


def test_validate_shipped_agents() -> None:
    result = runner.invoke(app, ["agents", "validate", "--dir", str(AGENTS_DIR)])
    assert result.exit_code == 0, result.output
    assert "(antigravity)" in result.stdout and "(release-notes)" in result.stdout


def test_validate_reports_every_problem_without_traceback(write: WriteFile) -> None:
    bad = write("agents/bad.yaml", "id: bad\nsytem_instruction: x\nlimits:\n  max_steps: lots\n")
    result = runner.invoke(app, ["agents", "validate", str(bad), "--dir", str(bad.parent)])
    assert result.exit_code == 2
    assert f"{bad}:2: sytem_instruction: unknown key 'sytem_instruction'" in result.stderr
    assert f"{bad}:4: limits.max_steps: Input should be a valid integer" in result.stderr
    assert "Traceback" not in result.output


def test_validate_file_whose_base_is_in_the_agents_folder(write: WriteFile) -> None:
    mine = write("mine/agent.yaml", "id: mine\nbase_agent: antigravity-preview-05-2026\n")
    result = runner.invoke(app, ["agents", "validate", str(mine), "--dir", str(AGENTS_DIR)])
    assert result.exit_code == 0, result.output
    assert "(mine)" in result.stdout


def test_validate_missing_base_and_syntax_error(write: WriteFile) -> None:
    orphan = write("agents/orphan.yaml", "id: orphan\nbase_agent: nobody\n")
    broken = write("agents/broken.yaml", "id: broken\ntools: [\n")
    result = runner.invoke(app, ["agents", "validate", "--dir", str(orphan.parent)])
    assert result.exit_code == 2
    assert f"{orphan}:2: base_agent: base agent 'nobody' is not defined" in result.stderr
    assert f"{broken}:3: YAML syntax error" in result.stderr


def test_validate_empty_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["agents", "validate", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no agent files" in result.stderr


def test_list() -> None:
    result = runner.invoke(app, ["agents", "list", "--dir", str(AGENTS_DIR)])
    assert result.exit_code == 0, result.output
    for text in ("antigravity", "deep-research", "release-notes", "gemini-3.1-pro-preview", "examples/"):
        assert text in result.stdout


def test_list_shows_both_research_versions_and_their_budgets() -> None:
    result = runner.invoke(app, ["agents", "list", "--dir", str(AGENTS_DIR)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 3}
    assert "fast version" in rows["deep-research"] and "120 turns, 15 min, 2M tokens" in rows["deep-research"]
    deep = rows["deep-research-max"]
    assert "deep version" in deep and "600 turns, 120 min, 16M tokens" in deep and "deep-research" in deep


def test_show_resolves_aliases_and_prints_yaml() -> None:
    result = runner.invoke(app, ["agents", "show", "deep-research-preview-04-2026", "--dir", str(AGENTS_DIR)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# resolved agent 'deep-research', spec_hash ")
    data = yaml.safe_load(result.stdout)
    assert data["id"] == "deep-research" and "report.md" in data["system_instruction"]


def test_show_unknown_agent() -> None:
    result = runner.invoke(app, ["agents", "show", "antigravty", "--dir", str(AGENTS_DIR)])
    assert result.exit_code == 2
    assert "unknown agent 'antigravty'; did you mean 'antigravity'?" in result.stderr


def test_show_reports_a_broken_folder(write: WriteFile) -> None:
    bad = write("agents/bad.yaml", "id: bad\nbogus: 1\n")
    result = runner.invoke(app, ["agents", "show", "bad", "--dir", str(bad.parent)])
    assert result.exit_code == 2
    assert f"{bad}:2: bogus: unknown key 'bogus'" in result.stderr


def test_schema_prints_the_generated_schema() -> None:
    result = runner.invoke(app, ["agents", "schema"])
    assert result.exit_code == 0
    assert result.stdout == agent_json_schema_text()
