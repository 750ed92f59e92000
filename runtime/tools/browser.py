"""The browser: one Chromium per sandbox, page state kept between calls."""

from __future__ import annotations

import base64
from typing import Any

from google.genai import types

from runtime.errors import InputError
from runtime.sandboxd import protocol as p
from runtime.tools.base import Tool, ToolContext, ToolOutput, arg_bool, arg_num, arg_opt_str, arg_str, declare

ACTIONS = ("navigate", "click", "type", "press", "scroll", "back", "forward", "read", "screenshot")


def _action(args: dict[str, Any]) -> p.BrowserAction:
    action = arg_str(args, "action")
    timeout = arg_num(args, "timeout_s", default=30.0) or 30.0
    if action == "navigate":
        return p.Navigate(url=arg_str(args, "url"), timeout_s=timeout)
    if action == "click":
        return p.Click(
            selector=arg_opt_str(args, "selector"), text=arg_opt_str(args, "text"), timeout_s=timeout
        )
    if action == "type":
        return p.TypeText(
            selector=arg_str(args, "selector"),
            text=arg_str(args, "text"),
            submit=arg_bool(args, "submit"),
            timeout_s=timeout,
        )
    if action == "press":
        return p.Press(key=arg_str(args, "key"), selector=arg_opt_str(args, "selector"), timeout_s=timeout)
    if action == "scroll":
        return p.Scroll(dy=int(arg_num(args, "dy", default=600) or 0), timeout_s=timeout)
    if action in ("back", "forward"):
        return p.History(action=action, timeout_s=timeout)
    if action == "read":
        return p.PageContent(format="markdown", max_chars=60_000, timeout_s=timeout)
    if action == "screenshot":
        return p.Screenshot(full_page=arg_bool(args, "full_page"), timeout_s=timeout)
    raise InputError(f"unknown browser action {action!r}; use one of {', '.join(ACTIONS)}")


class BrowserTool(Tool):
    name = "browser"
    kind = "function"

    def declaration(self) -> types.FunctionDeclaration:
        return declare(
            self.name,
            "Drive a headless Chromium in the sandbox; the page stays open between calls. Actions: "
            "navigate(url), click(selector or text), type(selector, text, submit), press(key), "
            "scroll(dy), back, forward, read (page as markdown), screenshot (you see the image).",
            {
                "action": {"type": "string", "enum": list(ACTIONS)},
                "url": {"type": "string"},
                "selector": {"type": "string", "description": "CSS selector."},
                "text": {"type": "string", "description": "Visible text to click, or text to type."},
                "key": {"type": "string", "description": "Key name, e.g. Enter, Tab, ArrowDown."},
                "submit": {"type": "boolean"},
                "dy": {"type": "integer"},
                "full_page": {"type": "boolean"},
                "timeout_s": {"type": "number"},
            },
            ["action"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        result = await ctx.sandbox.browser(_action(args))
        lines = [f"url: {result.url}", f"title: {result.title}"]
        if result.status is not None:
            lines.append(f"status: {result.status}")
        if result.restarted:
            lines.append("note: the browser had crashed and was restarted; earlier page state is gone")
        if result.content is not None:
            lines.append("")
            lines.append(result.content + ("\n[page text truncated]" if result.truncated else ""))
        images = [base64.b64decode(result.screenshot_png)] if result.screenshot_png else []
        if images:
            lines.append("[screenshot attached]")
        return ToolOutput(text="\n".join(lines), images=images)
