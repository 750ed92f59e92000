"""Workspace files: read (line ranges), write, exact-text edit, list, and ripgrep search."""

from __future__ import annotations

from typing import Any, ClassVar

from google.genai import types

from runtime.errors import InputError
from runtime.tools.base import Tool, ToolContext, ToolOutput, arg_bool, arg_num, arg_opt_str, arg_str, declare

MAX_READ_BYTES = 2_000_000


class ReadFileTool(Tool):
    name = "read_file"

    def declaration(self) -> types.FunctionDeclaration:
        return declare(
            self.name,
            "Read a text file from the workspace, with line numbers. Use start_line/end_line "
            "(1-based, inclusive) for a range of a large file.",
            {
                "path": {"type": "string", "description": "Path relative to /workspace."},
                "start_line": {"type": "integer"},
                "end_line": {"type": "integer"},
            },
            ["path"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        path = arg_str(args, "path")
        data = await ctx.sandbox.read_file(path, length=MAX_READ_BYTES)
        if b"\0" in data[:8192]:
            info = await ctx.sandbox.stat(path)
            return ToolOutput(text=f"{path} is a binary file ({info.size} bytes); not shown.", is_error=True)
        lines = data.decode("utf-8", errors="replace").splitlines()
        start = int(arg_num(args, "start_line", default=1) or 1)
        end = int(arg_num(args, "end_line", default=len(lines)) or len(lines))
        if start < 1 or end < start:
            raise InputError(f"bad line range {start}..{end}")
        shown = lines[start - 1 : end]
        body = "\n".join(f"{n:6}\t{line}" for n, line in enumerate(shown, start))
        footer = f"\n[lines {start}-{start + len(shown) - 1} of {len(lines)}]" if shown else "[empty range]"
        return ToolOutput(text=body + footer)


class WriteFileTool(Tool):
    name = "write_file"

    def declaration(self) -> types.FunctionDeclaration:
        return declare(
            self.name,
            "Create or overwrite a file in the workspace (parent folders are created).",
            {"path": {"type": "string"}, "content": {"type": "string"}},
            ["path", "content"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        info = await ctx.sandbox.write_file(arg_str(args, "path"), arg_str(args, "content"))
        return ToolOutput(text=f"wrote {info.path} ({info.size} bytes)")


class EditFileTool(Tool):
    name = "edit_file"

    def declaration(self) -> types.FunctionDeclaration:
        return declare(
            self.name,
            "Replace an exact piece of text in a workspace file. old_text must occur exactly once "
            "(include surrounding lines to make it unique) unless replace_all is true.",
            {
                "path": {"type": "string"},
                "old_text": {"type": "string"},
                "new_text": {"type": "string"},
                "replace_all": {"type": "boolean"},
            },
            ["path", "old_text", "new_text"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        path, old, new = arg_str(args, "path"), arg_str(args, "old_text"), arg_str(args, "new_text")
        if not old:
            raise InputError("old_text is empty; use write_file to create a file")
        text = (await ctx.sandbox.read_file(path)).decode("utf-8", errors="strict")
        count = text.count(old)
        if count == 0:
            raise InputError(f"old_text was not found in {path}; read the file and copy the text exactly")
        if count > 1 and not arg_bool(args, "replace_all"):
            raise InputError(
                f"old_text occurs {count} times in {path}; add surrounding lines to make it unique "
                "or set replace_all"
            )
        await ctx.sandbox.write_file(path, text.replace(old, new))
        return ToolOutput(text=f"edited {path}: replaced {count} occurrence(s)")


class ListFilesTool(Tool):
    name = "list_files"
    MAX_ENTRIES: ClassVar[int] = 500

    def declaration(self) -> types.FunctionDeclaration:
        return declare(
            self.name,
            "List files in a workspace folder (recursive on request) with sizes.",
            {"path": {"type": "string"}, "recursive": {"type": "boolean"}},
            [],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        path = arg_opt_str(args, "path") or "."
        entries = await ctx.sandbox.list_files(path, recursive=arg_bool(args, "recursive"))
        lines = [
            f"{e.path}/" if e.type == "directory" else f"{e.path}  ({e.size} bytes)"
            for e in entries[: self.MAX_ENTRIES]
        ]
        if len(entries) > self.MAX_ENTRIES:
            lines.append(f"... and {len(entries) - self.MAX_ENTRIES} more")
        return ToolOutput(text="\n".join(lines) or f"{path} is empty")


class SearchTool(Tool):
    name = "search"

    def declaration(self) -> types.FunctionDeclaration:
        return declare(
            self.name,
            "Search file contents in the workspace with ripgrep (regular expression). Returns "
            "matching lines as path:line:text.",
            {
                "pattern": {"type": "string"},
                "path": {"type": "string", "description": "Folder or file to search, default the workspace."},
                "glob": {"type": "string", "description": "Only files matching this glob, e.g. '*.py'."},
                "ignore_case": {"type": "boolean"},
            },
            ["pattern"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        argv = ["rg", "--line-number", "--no-heading", "--color=never", "--max-columns=300"]
        if arg_bool(args, "ignore_case"):
            argv.append("--ignore-case")
        glob = arg_opt_str(args, "glob")
        if glob:
            argv += ["--glob", glob]
        argv += ["--regexp", arg_str(args, "pattern"), "--", arg_opt_str(args, "path") or "."]
        result = await ctx.sandbox.exec(argv, timeout_s=60, max_output_bytes=200_000)
        if result.exit_code == 1:
            return ToolOutput(text="no matches")
        if result.exit_code != 0:
            return ToolOutput(text=f"search failed: {result.stderr.strip()}", is_error=True)
        return ToolOutput(text=result.stdout.rstrip() + ("\n[output truncated]" if result.truncated else ""))
