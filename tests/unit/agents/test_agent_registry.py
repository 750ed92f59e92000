"""The registry: folder loading, ids and aliases, base_agent inheritance, spec hashes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.agents import AgentRegistry, AgentSpecError, discover
from runtime.errors import NotFound

WriteFile = Callable[[str, str], Path]

PARENT = """
    id: parent
    description: the parent
    system_instruction: parent instruction
    aliases: [parent-preview-*]
    tools: [{type: google_search}, {type: url_context}]
    agent_config: {model: gemini-3.1-pro-preview, max_total_tokens: 1000}
    builtin_tools: [shell, python]
    skills: [skills/alpha]
    sandbox: {image: img:1, cpus: 2, network: egress}
    limits: {max_steps: 50, wall_time_s: 100}
    outputs: [a.md]
"""


@pytest.fixture
def agents(tmp_path: Path, write: WriteFile, skill: Callable[[str], Path]) -> Path:
    skill("alpha")
    skill("beta")
    write("agents/parent.yaml", PARENT)
    return tmp_path / "agents"


def test_child_overrides_field_by_field(agents: Path, write: WriteFile) -> None:
    write("agents/child.yaml", """
        id: child
        base_agent: parent
        tools: [{type: code_execution}]
        agent_config: {model: gemini-3.5-flash}
        sandbox: {cpus: 4}
        limits: {max_steps: 5}
    """)
    spec = AgentRegistry.from_folder(agents).resolve("child")
    assert spec.id == "child" and spec.base_agent == "parent"
    assert spec.description == "the parent"  # inherited
    assert spec.system_instruction == "parent instruction"
    assert [t.type for t in spec.tools or []] == ["code_execution"]  # lists replace
    assert spec.agent_config is not None
    assert (spec.agent_config.model, spec.agent_config.max_total_tokens) == ("gemini-3.5-flash", 1000)
    assert (spec.sandbox.image, spec.sandbox.cpus, spec.sandbox.network) == ("img:1", 4, "egress")
    assert (spec.limits.max_steps, spec.limits.wall_time_s) == (5, 100)
    assert spec.builtin_tools == ["shell", "python"]
    assert spec.outputs == ["a.md"]
    assert spec.aliases is None  # never inherited


def test_skills_and_data_sources_append(agents: Path, write: WriteFile) -> None:
    (agents / "data").mkdir()
    write("agents/child.yaml", """
        id: child
        base_agent: parent
        skills: [skills/beta, skills/alpha]
        data_sources: [{path: data}]
        outputs: [b.md]
    """)
    spec = AgentRegistry.from_folder(agents).resolve("child")
    assert [p.name for p in spec.skills or []] == ["alpha", "beta"]  # parent's first, duplicates once
    assert [d.workspace_target for d in spec.data_sources or []] == ["data"]
    assert spec.outputs == ["b.md"]


def test_three_levels_and_resolve_by_file(agents: Path, write: WriteFile) -> None:
    write("agents/child.yaml", "id: child\nbase_agent: parent\nlimits: {max_steps: 7}\n")
    grandchild = write("agents/grandchild.yaml", "id: grandchild\nbase_agent: child\nskills: [skills/beta]\n")
    registry = AgentRegistry.from_folder(agents)
    spec = registry.resolve("grandchild")
    assert spec.limits.max_steps == 7 and spec.limits.wall_time_s == 100
    assert [p.name for p in spec.skills or []] == ["alpha", "beta"]
    assert registry.resolve(grandchild) == spec
    assert registry.resolve(str(grandchild)) == spec


def test_missing_base_agent_is_named(agents: Path, write: WriteFile) -> None:
    path = write("agents/child.yaml", "id: child\ndescription: x\nbase_agent: ghost\n")
    registry = AgentRegistry.from_folder(agents)
    with pytest.raises(AgentSpecError) as info:
        registry.resolve("child")
    [issue] = info.value.issues
    assert (issue.path, issue.line, issue.field) == (path, 3, "base_agent")
    assert "base agent 'ghost' is not defined" in issue.message


def test_inheritance_cycle_is_named(agents: Path, write: WriteFile) -> None:
    write("agents/a.yaml", "id: a\nbase_agent: b\n")
    write("agents/b.yaml", "id: b\nbase_agent: c\n")
    write("agents/c.yaml", "id: c\nbase_agent: a\n")
    registry = AgentRegistry.from_folder(agents)
    cycle = r"inheritance cycle: a \(.*a\.yaml\) -> b \(.*\) -> c \(.*\) -> a"
    with pytest.raises(AgentSpecError, match=cycle):
        registry.resolve("a")


def test_self_inheritance_is_a_cycle(agents: Path, write: WriteFile) -> None:
    write("agents/a.yaml", "id: a\nbase_agent: a\n")
    with pytest.raises(AgentSpecError, match=r"inheritance cycle: a .* -> a"):
        AgentRegistry.from_folder(agents).resolve("a")


def test_merge_conflict_is_reported_on_the_child(agents: Path, write: WriteFile, tmp_path: Path) -> None:
    other = tmp_path / "agents" / "more" / "alpha"
    other.mkdir(parents=True)
    (other / "SKILL.md").write_text("# another alpha\n")
    path = write("agents/child.yaml", "id: child\nbase_agent: parent\nskills: [more/alpha]\n")
    with pytest.raises(AgentSpecError) as info:
        AgentRegistry.from_folder(agents).resolve("child")
    assert info.value.issues[0].path == path
    assert "duplicate skill names: alpha" in str(info.value)


def test_aliases_resolve(agents: Path, write: WriteFile) -> None:
    write("agents/child.yaml", "id: child\nbase_agent: parent-preview-01-2026\n")
    registry = AgentRegistry.from_folder(agents)
    assert registry.get("parent-preview-05-2026").spec.id == "parent"
    assert registry.resolve("child").description == "the parent"  # base_agent may be an alias
    with pytest.raises(NotFound, match="did you mean 'parent'"):
        registry.get("parnet")


def test_duplicate_id_and_alias(agents: Path, write: WriteFile) -> None:
    write("agents/other.yaml", "id: parent\n")
    with pytest.raises(AgentSpecError, match="agent 'parent' is already defined in"):
        AgentRegistry.from_folder(agents)
    (agents / "other.yaml").unlink()
    write("agents/other.yaml", "id: other\naliases: [parent-preview-*]\n")
    with pytest.raises(AgentSpecError, match="alias 'parent-preview-\\*' is already used by 'other'"):
        AgentRegistry.from_folder(agents)


def test_folder_errors_are_collected_from_every_file(agents: Path, write: WriteFile) -> None:
    write("agents/x.yaml", "id: x\nnope: 1\n")
    write("agents/sub/y.yaml", "id: y\nlimits: {max_steps: zero}\n")
    with pytest.raises(AgentSpecError) as info:
        AgentRegistry.from_folder(agents)
    assert sorted(i.path.name for i in info.value.issues if i.path) == ["x.yaml", "y.yaml"]


def test_discover_looks_one_folder_down(agents: Path, write: WriteFile) -> None:
    write("agents/sub/one.yaml", "id: one\n")
    write("agents/sub/data/not-an-agent.yaml", "whatever: 1\n")
    write("agents/.hidden/h.yaml", "id: h\n")
    assert [p.relative_to(agents).as_posix() for p in discover(agents)] == ["parent.yaml", "sub/one.yaml"]


def test_spec_hash_is_stable_and_location_independent(tmp_path: Path, write: WriteFile,
                                                      skill: Callable[[str], Path]) -> None:
    skill("alpha")
    write("agents/parent.yaml", PARENT)
    first = AgentRegistry.from_folder(tmp_path / "agents")
    moved = tmp_path / "elsewhere"
    (tmp_path / "agents").rename(moved)
    second = AgentRegistry.from_folder(moved)
    assert first.spec_hash("parent") == second.spec_hash("parent")
    assert len(first.spec_hash("parent")) == 64
    text = (moved / "parent.yaml").read_text()
    (moved / "parent.yaml").write_text(text.replace("max_steps: 50", "max_steps: 51"))
    assert AgentRegistry.from_folder(moved).spec_hash("parent") != second.spec_hash("parent")
