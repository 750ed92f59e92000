"""Read one agent file: ``yaml`` → :class:`AgentSpec`, with errors that name the file, line and field.

The document is composed once into a node tree (which keeps line numbers) and constructed from it
with the safe constructor, so a pydantic error ``loc`` such as ``("tools", 0, "url")`` can be mapped
back to the line it came from. Duplicate keys, which ``yaml.safe_load`` would silently collapse, are
errors too.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from runtime.agents.paths import PathContext
from runtime.agents.spec import AgentSpec, agent_json_schema
from runtime.errors import InputError

Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class Issue:
    """One problem in an agent file."""

    path: Path | None
    line: int | None
    """1-based; ``None`` when the problem has no place in the file."""
    field: str
    """Dotted field path, e.g. ``tools[0].url``; empty for the whole document."""
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.path and self.line else str(self.path or "<agent>")
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class AgentSpecError(InputError):
    """An agent file (or the set of them) is invalid. ``issues`` lists every problem found."""

    code = "invalid_agent"

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))

    @classmethod
    def one(cls, path: Path | None, line: int | None, field: str, message: str) -> AgentSpecError:
        return cls([Issue(path, line, field, message)])


@dataclass(frozen=True)
class LoadedAgent:
    """An agent as read from its file, before inheritance is applied."""

    spec: AgentSpec
    path: Path
    node: yaml.Node

    def line_of(self, *loc: int | str) -> int | None:
        return locate(self.node, loc)[0]


def load_agent_file(path: Path | str, *, roots: Sequence[Path] | None = None) -> AgentSpec:
    """The agent defined in ``path``, inheritance not applied (see ``AgentRegistry.resolve``).

    Relative local paths resolve against the file's folder and must stay inside ``roots`` (default:
    that folder). Raises :class:`AgentSpecError` naming the file, line and field of every problem.
    """
    return read_agent_file(path, roots=roots).spec


def read_agent_file(path: Path | str, *, roots: Sequence[Path] | None = None) -> LoadedAgent:
    """Like :func:`load_agent_file`, keeping the file's path and node tree for later messages."""
    path = Path(path)
    node, data = _parse(path)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise AgentSpecError.one(path, 1, "", f"an agent file must be a mapping of fields, not {kind}")
    base_dir = path.parent.resolve()
    context: PathContext = {"base_dir": base_dir, "roots": [r.resolve() for r in roots or [base_dir]]}
    try:
        spec = AgentSpec.model_validate(data, context=context)
    except ValidationError as e:
        raise AgentSpecError(issues_from_validation(e, path, node)) from e
    return LoadedAgent(spec=spec, path=path, node=node)


def _parse(path: Path) -> tuple[yaml.Node, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise AgentSpecError.one(path, None, "", "no such file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise AgentSpecError.one(path, None, "", f"cannot read: {e}") from e
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return yaml.ScalarNode("tag:yaml.org,2002:null", ""), None
        _check_duplicate_keys(path, node)
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (e.context, e.problem) if p)
        raise AgentSpecError.one(path, line, "", f"YAML syntax error: {problem}") from e
    except yaml.YAMLError as e:
        raise AgentSpecError.one(path, None, "", f"YAML error: {e}") from e
    finally:
        loader.dispose()


def _check_duplicate_keys(path: Path, node: yaml.Node, where: str = "") -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                if key.value in seen:
                    field = f"{where}.{key.value}" if where else str(key.value)
                    raise AgentSpecError.one(path, key.start_mark.line + 1, field, "duplicate key")
                seen.add(key.value)
            _check_duplicate_keys(path, value, f"{where}.{key.value}" if where else str(key.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(path, item, f"{where}[{i}]")


# --- mapping pydantic errors to lines ------------------------------------------------------------


def issues_from_validation(e: ValidationError, path: Path | None, node: yaml.Node | None) -> list[Issue]:
    issues = []
    for err in e.errors(include_url=False):
        line, field = locate(node, err["loc"])
        issues.append(Issue(path, line, field, _message(err)))
    return sorted(issues, key=lambda issue: issue.line or 0)


def locate(node: yaml.Node | None, loc: Loc) -> tuple[int | None, str]:
    """Line (1-based) of the deepest node ``loc`` reaches, and the dotted field path.

    Parts of ``loc`` that are not in the document (union tags pydantic inserts) are skipped; a
    missing last part (a required field) is kept in the field path and the parent's line is used.
    """
    shown: list[int | str] = []
    line = node.start_mark.line + 1 if node is not None else None
    for i, part in enumerate(loc):
        found = _child(node, part) if node is not None else None
        if found is None:
            if i == len(loc) - 1:
                shown.append(part)
            continue
        key, node = found
        shown.append(part)
        # The key's line is where the field is written; a nested value starts on the next line.
        line = (key or node).start_mark.line + 1
    return line, _dotted(shown)


def _child(node: yaml.Node, part: int | str) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key, value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


def _dotted(parts: Sequence[int | str]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: ErrorDetails) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        key = str(err["loc"][-1]) if err["loc"] else "?"
        close = difflib.get_close_matches(key, _known_keys(), n=1, cutoff=0.7)
        return f"unknown key '{key}'" + (f" (did you mean '{close[0]}'?)" if close else "")
    if kind == "missing":
        return "required field is missing"
    msg = msg.removeprefix("Value error, ")
    if isinstance(value, str | int | float | bool) and not kind.startswith(("path_", "workspace_path")):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        msg += f" (got {shown})"
    return msg


@cache
def _known_keys() -> tuple[str, ...]:
    return tuple(sorted(set(_property_names(agent_json_schema()))))


def _property_names(schema: object) -> Iterator[str]:
    if isinstance(schema, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            yield from props
        for value in schema.values():
            yield from _property_names(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _property_names(item)
