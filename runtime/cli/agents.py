"""``hangar agents``: validate, list and show agent definitions; print their JSON Schema."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runtime.agents import (
    AgentRegistry,
    AgentSpec,
    AgentSpecError,
    agent_json_schema_text,
    default_agents_dir,
    discover,
)
from runtime.agents.loader import LoadedAgent, read_agent_file
from runtime.cli.common import EXIT_USAGE, err_console, fail_on_hangar_error

app = typer.Typer(help="Validate, list and show agent definitions.", no_args_is_help=True)

DirOption = Annotated[
    Path | None, typer.Option("--dir", help="Agents folder (default: $HANGAR_AGENTS_DIR or ./agents).")
]


@contextlib.contextmanager
def _reporting() -> Iterator[None]:
    """Agent file problems one per line; other Hangar errors as ``fail_on_hangar_error`` does."""
    with fail_on_hangar_error():
        try:
            yield
        except AgentSpecError as e:
            _fail(e)


def _fail(e: AgentSpecError) -> NoReturn:
    for issue in e.issues:
        err_console.print(f"[bold red]error[/] {escape(str(issue))}", soft_wrap=True)
    raise typer.Exit(EXIT_USAGE) from e


def _registry(folder: Path | None) -> AgentRegistry:
    with _reporting():
        return AgentRegistry.from_folder(folder or default_agents_dir())


@app.command("validate")
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Agent files or folders (default: the agents folder).")
    ] = None,
    folder: DirOption = None,
) -> None:
    """Check agent files: schema, paths, base agents and inheritance. Exit 2 on any error."""
    agents_dir = folder or default_agents_dir()
    files = [f for p in paths or [agents_dir] for f in (discover(p) if p.is_dir() else [p])]
    if not files:
        where = ", ".join(str(p) for p in paths or [agents_dir])
        _fail(AgentSpecError.one(None, None, "", f"no agent files in {where}"))
    registry = AgentRegistry(agents_dir)
    issues = []
    loaded = []
    for path in files:
        try:
            inside = path.resolve().is_relative_to(agents_dir.resolve())
            loaded.append(read_agent_file(path, roots=[agents_dir] if inside else None))
            registry.add(loaded[-1])
        except AgentSpecError as e:
            issues += e.issues
    if paths:  # base agents of the given files come from the agents folder
        _add_missing_bases(registry, agents_dir)
    for agent in loaded:
        try:
            registry.resolve_loaded(agent)
            typer.echo(f"ok  {agent.path}  ({agent.spec.id})")
        except AgentSpecError as e:
            issues += e.issues
    if issues:
        _fail(AgentSpecError(issues))


def _add_missing_bases(registry: AgentRegistry, agents_dir: Path) -> None:
    if not agents_dir.is_dir():
        return
    for path in discover(agents_dir):
        try:
            agent = read_agent_file(path, roots=[agents_dir])
            if agent.spec.id not in registry.ids():
                registry.add(agent)
        except AgentSpecError:
            continue  # only reported when that file is validated itself


@app.command("list")
def list_agents(folder: DirOption = None) -> None:
    """The agents of the agents folder."""
    registry = _registry(folder)
    with _reporting():
        rows = [_row(registry, agent) for agent in registry]
    table = Table()
    for name in ("id", "description", "base", "model", "budget", "file"):
        table.add_column(name, no_wrap=name != "description", max_width=60 if name == "description" else None)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    Console().print(table)


@app.command("show")
def show(
    agent_id: Annotated[str, typer.Argument(metavar="ID", help="Agent id, API alias, or agent file.")],
    folder: DirOption = None,
) -> None:
    """The resolved agent (inheritance applied) as YAML."""
    registry = _registry(folder)
    with _reporting():
        spec = registry.resolve(agent_id)
    data = spec.model_dump(mode="json", exclude_none=True)
    typer.echo(f"# resolved agent '{spec.id}', spec_hash {spec.spec_hash(registry.root)}")
    typer.echo(yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100), nl=False)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of agent files (``hangar agents schema > agents/agent.schema.json``)."""
    typer.echo(agent_json_schema_text(), nl=False)


def _row(registry: AgentRegistry, agent: LoadedAgent) -> tuple[str, ...]:
    spec = registry.resolve_loaded(agent)
    description = " ".join((spec.description or "").split())
    model = spec.model or ""
    return spec.id, description, spec.base_agent or "", model, _budget(spec), _display_path(agent.path)


def _budget(spec: AgentSpec) -> str:
    """What bounds a run: model turns, wall-clock time and (when set) total tokens."""
    minutes = spec.limits.wall_time_s / 60
    parts = [f"{spec.limits.max_steps} turns", f"{minutes:g} min"]
    tokens = spec.agent_config.max_total_tokens if spec.agent_config else None
    if tokens:
        parts.append(f"{tokens / 1e6:g}M tokens")
    return ", ".join(parts)


def _display_path(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (system instructions) as ``|`` blocks."""


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_presenter)
