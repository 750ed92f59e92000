"""Create-time checks of the URLs a request asks the server to contact later: ``mcp_server``
tools and ``webhook_config.uris``. Refused with a 400 naming the field, before anything is stored;
the same guard checks them again when the server connects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runtime.outbound import OutboundGuard


async def check_tool_urls(guard: OutboundGuard, tools: Sequence[object] | None) -> None:
    """``tools[i].url`` of every ``mcp_server`` entry (dicts or typed tools)."""
    for index, tool in enumerate(tools or []):
        kind = tool.get("type") if isinstance(tool, dict) else getattr(tool, "type", None)
        url = tool.get("url") if isinstance(tool, dict) else getattr(tool, "url", None)
        if kind == "mcp_server" and isinstance(url, str):
            await guard.check_field(f"tools[{index}].url", url)


async def check_webhook_uris(guard: OutboundGuard, config: dict[str, Any] | None) -> None:
    uris = (config or {}).get("uris") or []
    for index, uri in enumerate(uris if isinstance(uris, list) else []):
        if isinstance(uri, str):
            await guard.check_field(f"webhook_config.uris[{index}]", uri)
