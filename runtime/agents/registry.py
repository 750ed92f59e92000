"""The set of known agents: loaded from a folder, looked up by id or alias, resolved through ``base_agent``.

Inheritance (``base_agent``), applied from the root ancestor down:

* a field the child sets replaces the parent's; nested objects (``agent_config``, ``sandbox``,
  ``limits``, ``base_environment``) merge key by key;
* lists replace (``tools``, ``builtin_tools``, ``outputs``, ``aliases``…), except ``skills`` and
  ``data_sources``, which append to the parent's (identical entries once);
* ``aliases`` are never inherited (they name one agent).

An id that matches the aliases of several agents goes to the most specific pattern (the most
literal characters), so ``deep-research-max-*`` takes ``deep-research-max-preview-04-2026`` from the
catch-all ``deep-research-*``.

The resolved spec keeps ``base_agent`` (the direct parent) as provenance.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runtime.agents.loader import AgentSpecError, Issue, LoadedAgent, issues_from_validation, read_agent_file
from runtime.agents.spec import AgentSpec
from runtime.errors import NotFound

APPEND_FIELDS = frozenset({"skills", "data_sources"})
NOT_INHERITED = frozenset({"aliases"})
AGENT_FILE_SUFFIXES = (".yaml", ".yml")


def default_agents_dir() -> Path:
    """``$HANGAR_AGENTS_DIR``, else ``./agents`` when present, else the checkout's ``agents/``."""
    if env := os.environ.get("HANGAR_AGENTS_DIR"):
        return Path(env)
    local = Path("agents")
    return local if local.is_dir() else Path(__file__).resolve().parents[2] / "agents"


def discover(folder: Path) -> list[Path]:
    """Agent files of ``folder``: ``*.yaml`` there and one subfolder down (deeper folders hold the
    agents' skills and data)."""
    files = [p for pattern in ("*", "*/*") for p in folder.glob(pattern)]
    return sorted(p for p in files if p.suffix in AGENT_FILE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


class AgentRegistry:
    """Agents by id. Build with :meth:`from_folder` or :meth:`add`; :meth:`resolve` applies inheritance."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root.resolve() if root is not None else None
        """Folder the agents came from; local paths in :meth:`spec_hash` are taken relative to it."""
        self._agents: dict[str, LoadedAgent] = {}

    @classmethod
    def from_folder(cls, folder: Path | str, *, roots: Sequence[Path] | None = None) -> AgentRegistry:
        """Every agent file of ``folder`` (see :func:`discover`). Local paths must stay inside
        ``roots`` (default: ``folder``). Raises :class:`AgentSpecError` listing the problems of all files."""
        folder = Path(folder)
        if not folder.is_dir():
            raise AgentSpecError.one(folder, None, "", "agents folder does not exist")
        registry = cls(folder)
        issues: list[Issue] = []
        for path in discover(folder):
            try:
                registry.add(read_agent_file(path, roots=roots or [folder]))
            except AgentSpecError as e:
                issues += e.issues
        if issues:
            raise AgentSpecError(issues)
        return registry

    def add(self, agent: LoadedAgent) -> None:
        """Register an agent. Raises :class:`AgentSpecError` if its id or an alias is taken."""
        if (other := self._agents.get(agent.spec.id)) is not None:
            raise AgentSpecError.one(agent.path, agent.line_of("id"), "id",
                                     f"agent '{agent.spec.id}' is already defined in {other.path}")
        for i, alias in enumerate(agent.spec.aliases or []):
            for other in self._agents.values():
                if alias in (other.spec.aliases or []):
                    message = f"alias '{alias}' is already used by '{other.spec.id}' ({other.path})"
                    line = agent.line_of("aliases", i)
                    raise AgentSpecError.one(agent.path, line, f"aliases[{i}]", message)
        self._agents[agent.spec.id] = agent

    def with_agents(self, agents: Iterable[LoadedAgent]) -> AgentRegistry:
        """A copy of this registry with ``agents`` added (e.g. a project's agents created through
        the API). Raises :class:`AgentSpecError` when one of them takes an existing id or alias."""
        copy = AgentRegistry(self.root)
        copy._agents = dict(self._agents)
        for agent in agents:
            copy.add(agent)
        return copy

    def ids(self) -> list[str]:
        return sorted(self._agents)

    def __iter__(self) -> Iterator[LoadedAgent]:
        return iter(self._agents[i] for i in self.ids())

    def __len__(self) -> int:
        return len(self._agents)

    def get(self, id_or_alias: str) -> LoadedAgent:
        """The agent with this id, else the one whose aliases match it. Raises :class:`NotFound`."""
        if (agent := self._agents.get(id_or_alias)) is not None:
            return agent
        matches = _most_specific(id_or_alias, self._agents.values())
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = ", ".join(a.spec.id for a in matches)
            raise NotFound(f"agent id '{id_or_alias}' matches the aliases of several agents: {names}")
        close = difflib.get_close_matches(id_or_alias, self.ids(), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(self.ids()) or 'none'}"
        raise NotFound(f"unknown agent '{id_or_alias}'{hint}")

    def resolve(self, id_or_path: str | Path) -> AgentSpec:
        """The agent with inheritance applied. ``id_or_path`` is an id, an alias, or an agent file
        (its ``base_agent`` is looked up here). Raises :class:`NotFound` for an unknown id and
        :class:`AgentSpecError` for a missing base, a cycle, or a file that does not validate."""
        if isinstance(id_or_path, Path) or id_or_path.endswith(AGENT_FILE_SUFFIXES):
            path = Path(id_or_path).resolve()
            inside = self.root is not None and path.is_relative_to(self.root)
            roots = [self.root] if self.root is not None and inside else None
            return self.resolve_loaded(read_agent_file(path, roots=roots))
        return self.resolve_loaded(self.get(id_or_path))

    def resolve_loaded(self, agent: LoadedAgent) -> AgentSpec:
        chain = self._chain(agent)
        spec = chain[-1].spec
        for child in reversed(chain[:-1]):
            spec = _merge(spec, child)
        return spec

    def spec_hash(self, id_or_path: str | Path) -> str:
        """sha256 of the resolved agent's canonical JSON (local paths relative to :attr:`root`)."""
        return self.resolve(id_or_path).spec_hash(self.root)

    def _chain(self, agent: LoadedAgent) -> list[LoadedAgent]:
        """``agent`` and its ancestors, nearest first."""
        chain = [agent]
        while base := chain[-1].spec.base_agent:
            child = chain[-1]
            try:
                parent = self.get(base)
            except NotFound as e:
                raise AgentSpecError.one(child.path, child.line_of("base_agent"), "base_agent",
                                         f"base agent '{base}' is not defined ({e.message})") from e
            if any(parent.path == seen.path for seen in chain):
                cycle = [*chain[[a.path for a in chain].index(parent.path):], parent]
                text = " -> ".join(f"{a.spec.id} ({a.path})" for a in cycle)
                raise AgentSpecError.one(child.path, child.line_of("base_agent"), "base_agent",
                                         f"inheritance cycle: {text}")
            chain.append(parent)
        return chain


def _specificity(pattern: str) -> int:
    """How much of an alias is literal: ``deep-research-max-*`` is more specific than ``deep-research-*``."""
    return sum(1 for ch in pattern if ch not in "*?[]")


def _most_specific(agent_id: str, agents: Iterable[LoadedAgent]) -> list[LoadedAgent]:
    """The agents whose aliases match ``agent_id`` through the most specific pattern (several only
    when equally specific patterns of different agents match)."""
    best: dict[str, tuple[int, LoadedAgent]] = {}
    for agent in agents:
        scores = [_specificity(a) for a in agent.spec.aliases or [] if fnmatch.fnmatchcase(agent_id, a)]
        if scores:
            best[agent.spec.id] = (max(scores), agent)
    if not best:
        return []
    top = max(score for score, _ in best.values())
    return [agent for score, agent in best.values() if score == top]


def _merge(parent: AgentSpec, child: LoadedAgent) -> AgentSpec:
    merged: dict[str, Any] = parent.model_dump(exclude_unset=True, exclude=set(NOT_INHERITED))
    for key, value in child.spec.model_dump(exclude_unset=True).items():
        if key in APPEND_FIELDS:
            merged[key] = _once([*(merged.get(key) or []), *(value or [])])
        else:
            merged[key] = _deep_merge(merged.get(key), value)
    try:
        return AgentSpec.model_validate(merged)
    except ValidationError as e:
        # Errors of the combination (e.g. two skills with the same name) are reported on the child.
        issues = issues_from_validation(e, child.path, None)
        line = child.line_of("base_agent")
        suffix = f" (after inheriting from '{parent.id}')"
        raise AgentSpecError([Issue(i.path, line, i.field, i.message + suffix) for i in issues]) from e


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _deep_merge(base.get(k), v) for k, v in override.items()}}
    return override


def _once(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
