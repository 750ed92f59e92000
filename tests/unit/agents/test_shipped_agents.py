"""Shipped agents: they validate, resolve, answer to the API's agent ids; the schema file is current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.agents import AgentRegistry, agent_json_schema_text, read_skill

AGENTS_DIR = Path(__file__).resolve().parents[3] / "agents"

# Interactions API agent ids (spec §3.9).
API_IDS = {
    "antigravity-preview-05-2026": "antigravity",
    "antigravity-preview-09-2026": "antigravity",
    "deep-research-pro-preview-12-2025": "deep-research",
    "deep-research-preview-04-2026": "deep-research",
    "deep-research-max-preview-04-2026": "deep-research-max",
    "deep-research-max-12-2026": "deep-research-max",
    "deep-research-2027": "deep-research",
}


@pytest.fixture(scope="module")
def registry() -> AgentRegistry:
    return AgentRegistry.from_folder(AGENTS_DIR)


def test_every_shipped_agent_resolves(registry: AgentRegistry) -> None:
    assert {"antigravity", "deep-research", "release-notes"} <= set(registry.ids())
    for agent_id in registry.ids():
        spec = registry.resolve(agent_id)
        assert spec.description and spec.system_instruction and spec.model, agent_id


@pytest.mark.parametrize(("api_id", "agent_id"), sorted(API_IDS.items()))
def test_api_agent_ids_resolve(registry: AgentRegistry, api_id: str, agent_id: str) -> None:
    assert registry.resolve(api_id) == registry.resolve(agent_id)


def test_antigravity_is_the_default_coding_agent(registry: AgentRegistry) -> None:
    spec = registry.resolve("antigravity")
    assert spec.builtin_tools == ["shell", "python", "files", "browser", "plan"]
    assert not spec.outputs  # asked for in the instruction, never a reason to fail a correct answer
    assert "walkthrough.md" in (spec.system_instruction or "")


def test_deep_research_searches_and_reports(registry: AgentRegistry) -> None:
    spec = registry.resolve("deep-research")
    assert {t.type for t in spec.tools or []} >= {"google_search"}
    assert not spec.outputs and "report.md" in (spec.system_instruction or "")
    sandbox = spec.sandbox_spec()
    # An allowlist through the egress proxy, not open egress.
    assert spec.wants_egress() and sandbox.network == "allowlist"
    assert "vertexaisearch.cloud.google.com" in sandbox.allowed_domains and "*" not in sandbox.allowed_domains


def test_example_extends_with_skill_and_data(registry: AgentRegistry) -> None:
    spec = registry.resolve("release-notes")
    assert spec.base_agent == "antigravity"
    assert spec.limits.wall_time_s == registry.resolve("antigravity").limits.wall_time_s  # inherited
    [skill_dir] = spec.skills or []
    skill = read_skill(skill_dir)
    assert skill.name == "changelog" and skill.description.startswith("Collect the commits")
    assert (skill_dir / "scripts" / "group_commits.py").is_file()
    assert [d.workspace_target for d in spec.data_sources or []] == ["release-style"]
    assert spec.sandbox_spec().mounts[0].target == "/skills/changelog"


def test_files_point_at_the_schema() -> None:
    for path in [*AGENTS_DIR.glob("*.yaml"), *AGENTS_DIR.glob("*/*.yaml")]:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        schema = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert schema == AGENTS_DIR / "agent.schema.json", path


def test_committed_schema_is_current() -> None:
    committed = (AGENTS_DIR / "agent.schema.json").read_text()
    hint = "regenerate: hangar agents schema > agents/agent.schema.json"
    assert committed == agent_json_schema_text(), hint
    assert json.loads(committed)["additionalProperties"] is False


def test_research_versions_differ_in_model_and_budgets(registry: AgentRegistry) -> None:
    fast, deep = registry.resolve("deep-research"), registry.resolve("deep-research-max")
    assert deep.base_agent == "deep-research"
    assert fast.model != deep.model
    assert fast.limits.max_steps < deep.limits.max_steps
    assert fast.limits.wall_time_s < deep.limits.wall_time_s
    assert fast.agent_config and deep.agent_config
    assert (fast.agent_config.max_total_tokens or 0) < (deep.agent_config.max_total_tokens or 0)
    # The deep version keeps the fast one's allowlist (inherited), never open egress.
    assert deep.sandbox_spec().network == "allowlist"
    assert deep.sandbox_spec().allowed_domains == fast.sandbox_spec().allowed_domains
