"""Agent definitions: ``AgentSpec`` (what an agent file holds), the YAML loader with line-numbered
errors, and the registry that resolves ids, aliases and ``base_agent`` inheritance.

``wire`` mirrors the Interactions API Agent resource, ``spec`` adds Hangar's fields, ``paths`` checks
the untrusted paths of agent files, ``skills`` reads skill folders.
"""

from runtime.agents.loader import AgentSpecError, Issue, LoadedAgent, load_agent_file, read_agent_file
from runtime.agents.registry import AgentRegistry, default_agents_dir, discover
from runtime.agents.skills import Skill, read_skill
from runtime.agents.spec import AgentSpec, DataSource, Limits, SandboxConfig, agent_json_schema_text

__all__ = [
    "AgentRegistry",
    "AgentSpec",
    "AgentSpecError",
    "DataSource",
    "Issue",
    "Limits",
    "LoadedAgent",
    "SandboxConfig",
    "Skill",
    "agent_json_schema_text",
    "default_agents_dir",
    "discover",
    "load_agent_file",
    "read_agent_file",
    "read_skill",
]
