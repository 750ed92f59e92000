"""The final answer of a research run: its citations and its charts.

When the model gives its final answer (a turn without calls), the loop hands the answer's
``model_output`` step here before it is closed: the text gets ``url_citation`` annotations
(:mod:`runtime.agent.citations`), and with charts on the images ``report.md`` embeds (the charts
the agent drew in the box, e.g. with matplotlib) are added to it as ``image`` content (base64
``data`` and ``mime_type``, as Google's docs read them).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from runtime import steps as s
from runtime.agent.citations import REPORT_FILE, opened_pages, report_sources, with_citations
from runtime.errors import HangarError, SandboxGone
from runtime.sandbox.client import SandboxdClient

CHARTS_DIR = "charts"
MAX_IMAGES = 12
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_REPORT_BYTES = 2 * 1024 * 1024
MIME_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".svg": "image/svg+xml",
}
_EMBED = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")

CHARTS_INSTRUCTION = f"""

Visualization is on: where the data you computed is clearer as a chart, draw it in Python with
matplotlib (non-interactive: matplotlib.use("Agg")), save it as PNG under /workspace/{CHARTS_DIR}/,
and embed it in report.md with a relative link, e.g. ![Revenue by year]({CHARTS_DIR}/revenue.png)."""

NO_CHARTS_INSTRUCTION = """

Visualization is off: do not draw charts or images; present figures as text and tables."""


@dataclass
class AnswerOptions:
    """What the final answer carries besides its text."""

    citations: bool = True
    """``url_citation`` annotations for the report's sources the run opened."""
    charts: bool = True
    """The images ``report.md`` embeds, as ``image`` content (``visualization: off``: none)."""


async def finish_answer(
    step: s.ModelOutputStep, steps: Sequence[s.Step], sandbox: SandboxdClient, options: AnswerOptions
) -> None:
    """Annotate ``step`` (the final answer) and attach its charts, in place."""
    if not (options.citations or options.charts):
        return
    report = await _read_text(sandbox, REPORT_FILE)
    if options.citations:
        with_citations(step, report_sources(report or ""), opened_pages(steps))
    if options.charts and report:
        step.content = [*(step.content or []), *await chart_images(sandbox, report)]


async def chart_images(sandbox: SandboxdClient, report: str) -> list[s.ImageContent]:
    """The workspace images ``report`` embeds (relative links), in order, each once."""
    images: list[s.ImageContent] = []
    for path in dict.fromkeys(embedded_images(report)):
        mime = MIME_TYPES.get(PurePosixPath(path).suffix.lower())
        data = await _read(sandbox, path, MAX_IMAGE_BYTES) if mime else None
        if mime and data:
            images.append(s.ImageContent(data=base64.b64encode(data).decode(), mime_type=mime))
        if len(images) >= MAX_IMAGES:
            break
    return images


def embedded_images(report: str) -> list[str]:
    """Workspace paths of the images a markdown report embeds (web images left out)."""
    paths = []
    for match in _EMBED.finditer(report):
        target = match.group(1)
        if "://" in target or (target.startswith(("data:", "/")) and not target.startswith("/workspace/")):
            continue
        path = PurePosixPath(target.removeprefix("/workspace/").removeprefix("./"))
        if ".." not in path.parts:
            paths.append(str(path))
    return paths


async def _read_text(sandbox: SandboxdClient, path: str) -> str | None:
    data = await _read(sandbox, path, MAX_REPORT_BYTES)
    return data.decode(errors="replace") if data is not None else None


async def _read(sandbox: SandboxdClient, path: str, limit: int) -> bytes | None:
    """The file's bytes, ``None`` when it is missing, not a regular file or larger than ``limit``."""
    try:
        info = await sandbox.stat(path)
        if info.type != "file" or info.size > limit:
            return None
        return await sandbox.read_file(path)
    except SandboxGone:
        raise
    except HangarError:
        return None
