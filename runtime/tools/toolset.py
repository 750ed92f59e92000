"""Assemble the tools of a run: the built-ins an agent allows plus client-declared functions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from google.genai import types

from runtime.errors import InputError
from runtime.llm.base import GoogleMapsSettings
from runtime.tools.base import Tool
from runtime.tools.browser import BrowserTool
from runtime.tools.code import PythonTool, ShellTool
from runtime.tools.files import EditFileTool, ListFilesTool, ReadFileTool, SearchTool, WriteFileTool
from runtime.tools.hooks import HookRunner, hooked
from runtime.tools.plan import PlanTool

BUILTINS: dict[str, tuple[Tool, ...]] = {
    "shell": (ShellTool(),),
    "python": (PythonTool(),),
    "files": (ReadFileTool(), WriteFileTool(), EditFileTool(), ListFilesTool(), SearchTool()),
    "browser": (BrowserTool(),),
    "plan": (PlanTool(),),
}

BUILTIN_TOOL_NAMES = frozenset(tool.name for tools in BUILTINS.values() for tool in tools)
"""What a client-side function may not be called."""


@dataclass
class Toolset:
    """Built-in tools by name, client-side function declarations, and Gemini's built-in tools."""

    builtins: dict[str, Tool] = field(default_factory=dict)
    client_functions: dict[str, types.FunctionDeclaration] = field(default_factory=dict)
    google_search: bool = False
    url_context: bool = False
    google_maps: GoogleMapsSettings | None = None

    @classmethod
    def build(
        cls,
        families: Iterable[str],
        *,
        client_functions: Sequence[types.FunctionDeclaration] = (),
        google_search: bool = False,
        url_context: bool = False,
        google_maps: GoogleMapsSettings | None = None,
    ) -> Toolset:
        builtins: dict[str, Tool] = {}
        for family in families:
            if family not in BUILTINS:
                raise InputError(f"unknown built-in tool {family!r}; known: {', '.join(BUILTINS)}")
            builtins.update({tool.name: tool for tool in BUILTINS[family]})
        functions: dict[str, types.FunctionDeclaration] = {}
        for decl in client_functions:
            if not decl.name or decl.name in builtins or decl.name in functions:
                raise InputError(f"function tool name {decl.name!r} is empty or clashes with another tool")
            functions[decl.name] = decl
        return cls(builtins, functions, google_search, url_context, google_maps)

    def with_hooks(self, runner: HookRunner) -> Toolset:
        """The same tools, each built-in call going through ``runner``'s pre and post hooks."""
        builtins = {name: hooked(tool, runner) for name, tool in self.builtins.items()}
        functions = dict(self.client_functions)
        return Toolset(builtins, functions, self.google_search, self.url_context, self.google_maps)

    def declarations(self) -> list[types.FunctionDeclaration]:
        return [tool.declaration() for tool in self.builtins.values()] + list(self.client_functions.values())
