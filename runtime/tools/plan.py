"""Artifacts the agent keeps in the workspace: ``plan.md`` (the task plan) and ``walkthrough.md``."""

from __future__ import annotations

from typing import Any

from google.genai import types

from runtime.errors import InputError
from runtime.tools.base import Tool, ToolContext, ToolOutput, arg_str, declare

ARTIFACTS = {"plan": "plan.md", "walkthrough": "walkthrough.md"}


class PlanTool(Tool):
    name = "update_artifact"
    kind = "function"

    def declaration(self) -> types.FunctionDeclaration:
        return declare(
            self.name,
            "Write one of your working artifacts in the workspace: 'plan' (plan.md: the steps of "
            "the task as a markdown checklist; update it as you progress) or 'walkthrough' "
            "(walkthrough.md: what you did, how you verified it, where the results are).",
            {
                "artifact": {"type": "string", "enum": list(ARTIFACTS)},
                "content": {"type": "string", "description": "The whole markdown document."},
            },
            ["artifact", "content"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        artifact = arg_str(args, "artifact")
        if artifact not in ARTIFACTS:
            raise InputError(f"artifact must be one of {', '.join(ARTIFACTS)}")
        info = await ctx.sandbox.write_file(ARTIFACTS[artifact], arg_str(args, "content"))
        return ToolOutput(text=f"saved {info.path} ({info.size} bytes)")
