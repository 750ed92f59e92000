"""Loading one agent file: valid fields, and errors that name the file, the line and the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.agents import AgentSpecError, load_agent_file
from runtime.agents.spec import AgentSpec
from runtime.errors import InputError

WriteFile = Callable[[str, str], Path]


def _error(path: Path) -> AgentSpecError:
    with pytest.raises(AgentSpecError) as info:
        load_agent_file(path)
    assert isinstance(info.value, InputError)
    return info.value


def test_minimal_agent_gets_defaults(write: WriteFile) -> None:
    spec = load_agent_file(write("a.yaml", "id: mini\n"))
    assert spec.id == "mini"
    assert spec.builtin_tools == ["shell", "python", "files", "browser", "plan"]
    assert spec.limits.max_steps == 200
    assert spec.wants_egress() is False


def test_full_agent(write: WriteFile, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "skills" / "pdf").mkdir(parents=True)
    (tmp_path / "skills" / "pdf" / "SKILL.md").write_text("# pdf\n\nRead PDFs.\n")
    path = write("a.yaml", """
        id: full
        description: d
        system_instruction: be careful
        tools:
          - {type: function, name: lookup, parameters: {type: object}}
          - {type: mcp_server, name: gh, url: https://mcp.example/gh, allowed_tools: [{mode: auto}]}
          - {type: google_search, search_types: [web_search]}
          - {type: url_context}
          - {type: code_execution}
        agent_config: {model: gemini-3.5-flash, max_total_tokens: "250000"}
        base_environment:
          sources: [{type: inline, content: "print(1)", target: main.py}]
          env: {TOKEN: {value: t0k}, MODE: fast}
          network: {allowlist: [{domain: "*.pypi.org"}]}
        builtin_tools: [python, files]
        skills: [skills/pdf]
        data_sources:
          - {path: data}
          - {git: "https://github.com/org/repo.git", ref: v1, target: src/repo}
        sandbox: {image: custom:1, cpus: 2, memory_mb: 2048}
        limits: {max_steps: 10, wall_time_s: 60}
        outputs: [out/report.md]
    """)
    spec = load_agent_file(path)
    assert spec.agent_config is not None and spec.agent_config.max_total_tokens == 250000
    assert spec.skills == [(tmp_path / "skills" / "pdf").resolve()]
    assert spec.data_sources is not None
    assert [d.workspace_target for d in spec.data_sources] == ["data", "src/repo"]
    assert spec.wants_egress() is True
    sandbox = spec.sandbox_spec()
    assert (sandbox.image, sandbox.cpus, sandbox.memory_mb) == ("custom:1", 2, 2048)
    # An allowlist is enforced by the egress proxy, not opened as free egress.
    assert (sandbox.network, sandbox.allowed_domains) == ("allowlist", ("*.pypi.org",))
    assert [(m.target, m.read_only) for m in sandbox.mounts] == [("/skills/pdf", True)]
    assert sandbox.env == (("MODE", "fast"), ("TOKEN", "t0k"))
    api = spec.api_fields()
    assert api["agent_config"] == {
        "type": "antigravity", "model": "gemini-3.5-flash", "max_total_tokens": "250000",  # int64 as string
    }
    assert set(api) == {
        "id", "description", "system_instruction", "tools", "agent_config", "base_environment",
    }


def test_unknown_key_names_file_line_and_key(write: WriteFile) -> None:
    path = write("a.yaml", "id: a\ndescription: ok\nsytem_instruction: typo\n")
    err = _error(path)
    assert str(err) == (
        f"{path}:3: sytem_instruction: unknown key 'sytem_instruction' (did you mean 'system_instruction'?)"
    )


def test_nested_unknown_key(write: WriteFile) -> None:
    path = write("a.yaml", "id: a\nsandbox:\n  cpus: 1\n  gpus: 2\n")
    [issue] = _error(path).issues
    assert (issue.path, issue.line, issue.field) == (path, 4, "sandbox.gpus")
    assert "unknown key 'gpus'" in issue.message


def test_wrong_type_names_field_and_line(write: WriteFile) -> None:
    path = write("a.yaml", "id: a\nlimits:\n  max_steps: many\n")
    err = _error(path)
    assert f"{path}:3: limits.max_steps: Input should be a valid integer" in str(err)
    assert "(got 'many')" in str(err)


def test_bad_tool_reports_only_its_own_problem(write: WriteFile) -> None:
    path = write("a.yaml", "id: a\ntools:\n  - type: url_context\n  - type: mcp_server\n    name: m\n")
    [issue] = _error(path).issues
    assert (issue.line, issue.field, issue.message) == (4, "tools[1].url", "required field is missing")


def test_unknown_tool_type(write: WriteFile) -> None:
    path = write("a.yaml", "id: a\ntools:\n  - type: retrieval\n")
    [issue] = _error(path).issues
    assert issue.line == 3 and issue.field == "tools[0]"
    assert "'retrieval'" in issue.message


def test_max_total_tokens_accepts_int_and_digit_string_only(write: WriteFile) -> None:
    ok = load_agent_file(write("a.yaml", "id: a\nagent_config: {max_total_tokens: 1000}\n"))
    assert ok.agent_config is not None and ok.agent_config.max_total_tokens == 1000
    err = _error(write("b.yaml", "id: b\nagent_config:\n  max_total_tokens: -5\n"))
    assert err.issues[0].field == "agent_config.max_total_tokens" and err.issues[0].line == 3


def test_several_problems_are_all_reported_in_line_order(write: WriteFile) -> None:
    path = write("a.yaml", "id: a\nlimits: {max_steps: 0}\noutputs: [/etc/passwd]\nbogus: 1\n")
    assert [(i.line, i.field) for i in _error(path).issues] == [
        (2, "limits.max_steps"), (3, "outputs[0]"), (4, "bogus"),
    ]


def test_missing_id(write: WriteFile) -> None:
    path = write("a.yaml", "description: no id\n")
    assert str(_error(path)) == f"{path}:1: id: required field is missing"


def test_bad_id(write: WriteFile) -> None:
    err = _error(write("a.yaml", "id: Has Spaces\n"))
    assert err.issues[0].field == "id"


def test_yaml_syntax_error_has_line(write: WriteFile) -> None:
    path = write("a.yaml", "id: a\ntools:\n  - type: url_context\n   bad: [\n")
    [issue] = _error(path).issues
    assert issue.line == 4
    assert "YAML syntax error" in issue.message


def test_duplicate_key_is_an_error(write: WriteFile) -> None:
    path = write("a.yaml", "id: a\nsandbox:\n  cpus: 1\n  cpus: 2\n")
    assert str(_error(path)) == f"{path}:4: sandbox.cpus: duplicate key"


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_document_must_be_a_mapping(write: WriteFile, text: str) -> None:
    assert "must be a mapping" in str(_error(write("a.yaml", text)))


def test_missing_file() -> None:
    with pytest.raises(AgentSpecError, match="no such file"):
        load_agent_file(Path("/nonexistent/agent.yaml"))


# --- untrusted paths ------------------------------------------------------------------------------


def test_missing_data_source(write: WriteFile) -> None:
    path = write("a.yaml", "id: a\ndata_sources:\n  - path: nowhere\n")
    [issue] = _error(path).issues
    assert (issue.line, issue.field) == (3, "data_sources[0].path")
    assert "'nowhere' does not exist" in issue.message


@pytest.mark.parametrize("target", ["../escape", "a/../../b", "/abs", "."])
def test_target_must_stay_in_workspace(write: WriteFile, tmp_path: Path, target: str) -> None:
    (tmp_path / "data").mkdir()
    path = write("a.yaml", f"id: a\ndata_sources:\n  - path: data\n    target: '{target}'\n")
    [issue] = _error(path).issues
    assert (issue.line, issue.field) == (4, "data_sources[0].target")


def test_source_outside_the_agent_folder_is_rejected(write: WriteFile, tmp_path: Path) -> None:
    (tmp_path / "secret").mkdir()
    path = write("agents/a.yaml", "id: a\ndata_sources:\n  - path: ../secret\n")
    [issue] = _error(path).issues
    assert "outside the allowed folders" in issue.message
    allowed = load_agent_file(path, roots=[tmp_path])
    assert allowed.data_sources is not None
    assert allowed.data_sources[0].path == (tmp_path / "secret").resolve()


def test_symlink_escaping_the_roots_is_rejected(write: WriteFile, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "link").symlink_to(tmp_path / "outside")
    path = write("agents/a.yaml", "id: a\ndata_sources: [{path: link}]\n")
    assert "outside the allowed folders" in str(_error(path))


def test_absolute_path_outside_roots_is_rejected(write: WriteFile) -> None:
    path = write("a.yaml", "id: a\ndata_sources: [{path: /etc}]\n")
    assert "outside the allowed folders" in str(_error(path))


def test_data_source_needs_exactly_one_origin(write: WriteFile, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    both = write("a.yaml", "id: a\ndata_sources:\n  - {path: d, git: 'https://x/y.git'}\n")
    assert "exactly one of 'path' or 'git'" in str(_error(both))
    local_git = write("b.yaml", "id: b\ndata_sources:\n  - git: file:///etc\n")
    assert _error(local_git).issues[0].field == "data_sources[0].git"


def test_skill_folder_needs_skill_md(write: WriteFile, tmp_path: Path) -> None:
    (tmp_path / "skills" / "empty").mkdir(parents=True)
    path = write("a.yaml", "id: a\nskills: [skills/empty]\n")
    [issue] = _error(path).issues
    assert (issue.line, issue.field) == (2, "skills[0]")
    assert "has no SKILL.md" in issue.message


def test_relative_path_needs_a_file_context() -> None:
    with pytest.raises(ValueError, match="outside an agent file"):
        AgentSpec.model_validate({"id": "a", "skills": ["skills/x"]})
