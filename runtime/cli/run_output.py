"""What ``hangar run --output-dir`` leaves behind for CI: ``result.json``, ``steps.jsonl``,
``summary.md`` and the files the run produced; plus the GitHub Actions job summary.

The produced files come from the box, so they are hostile input written on the host: they land
under ``files/`` only, as regular files and folders. Symbolic and hard links are never created
(they are named in the report instead), nothing is written through a link already under the
output folder, and the total is bounded (the workspace quota).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runtime import steps as s
from runtime.agent.events import RunStatus
from runtime.errors import InputError, NotFound, PathOutsideWorkspace
from runtime.sandboxd.tarstream import ExtractLimits, ExtractResult, extract_tar

EXIT_CODES: dict[str, int] = {
    RunStatus.COMPLETED: 0,
    RunStatus.FAILED: 1,
    RunStatus.BUDGET_EXCEEDED: 3,
    RunStatus.INCOMPLETE: 4,
    RunStatus.CANCELLED: 5,
    RunStatus.REQUIRES_ACTION: 6,
}
"""Exit code per terminal status; 2 is bad usage (see the README's table)."""


@dataclass
class RunReport:
    agent: str
    agent_hash: str
    task: str
    status: str
    reason: str
    usage: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    final_text: str = ""
    files: list[str] = field(default_factory=list)
    sandbox_id: str | None = None
    interaction_id: str | None = None
    """Set when the run went through a server (``hangar run --server``)."""
    environment_id: str | None = None
    files_note: str | None = None
    """Why produced files were not downloaded, when they were not."""

    def to_json(self) -> dict[str, Any]:
        remote = {"interaction_id": self.interaction_id, "environment_id": self.environment_id}
        return {
            "status": self.status,
            "reason": self.reason,
            "agent": self.agent,
            "agent_hash": self.agent_hash,
            "usage": self.usage,
            "timings": self.timings,
            "files": self.files,
            "sandbox_id": self.sandbox_id,
            "final_text": self.final_text,
            "exit_code": EXIT_CODES.get(self.status, 1),
            **({k: v for k, v in remote.items() if v} if self.interaction_id else {}),
            **({"files_note": self.files_note} if self.files_note else {}),
        }

    def summary_md(self) -> str:
        icon = "✅" if self.status == RunStatus.COMPLETED else "❌"
        lines = [
            f"## {icon} Hangar run: `{self.agent}` — {self.status}",
            "",
            f"**Task:** {self.task.strip()[:500]}",
            "",
            f"**Result:** {self.reason}",
            "",
            f"**Tokens:** {self.usage.get('total_tokens', 0)} · "
            f"**Time:** {self.timings.get('total_s', 0):.1f} s",
        ]
        if self.files:
            lines += ["", "**Files:**", *(f"- `{f}`" for f in self.files)]
        if self.files_note:
            lines += ["", f"_{self.files_note}_"]
        if self.final_text:
            lines += ["", "### Final answer", "", self.final_text.strip()]
        return "\n".join(lines) + "\n"


def write_outputs(out_dir: Path, report: RunReport, steps: list[s.Step]) -> None:
    """Always callable, also after a failure: a run always leaves its result.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {**report.to_json(), "sources": answer_sources(steps)}
    (out_dir / "result.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    with (out_dir / "steps.jsonl").open("w") as fh:
        for step in steps:
            fh.write(json.dumps(s.dump_step(step), ensure_ascii=False) + "\n")
    (out_dir / "summary.md").write_text(report.summary_md())


def answer_sources(steps: list[s.Step]) -> list[dict[str, str | None]]:
    """The pages the final answer cites (its ``url_citation`` annotations), each once, in order."""
    outputs = [step for step in steps if isinstance(step, s.ModelOutputStep) and step.content]
    blocks = outputs[-1].content or [] if outputs else []
    sources: dict[str, str | None] = {}
    for block in blocks:
        for note in block.annotations or [] if isinstance(block, s.TextContent) else []:
            if isinstance(note, s.UrlCitation) and note.url:
                sources.setdefault(note.url, note.title)
    return [{"url": url, "title": title} for url, title in sources.items()]


def append_github_summary(report: RunReport) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(report.summary_md())


# --- produced files -------------------------------------------------------------------------------


class Downloader(Protocol):
    async def download(self, path: str, local_dir: Path, *, limits: ExtractLimits) -> ExtractResult:
        """Extract workspace ``path`` under ``local_dir`` without creating links."""
        ...


async def download_outputs(
    session: Downloader, paths: list[str], files_dir: Path, limits: ExtractLimits
) -> tuple[list[str], str | None]:
    """Download ``paths`` of the workspace into ``files_dir``: the paths written, and a note
    naming what was refused (links, escapes, limits), if anything was."""
    got: list[str] = []
    refused: list[str] = []
    for path in dict.fromkeys(paths):
        try:
            result = await session.download(path, files_dir, limits=limits)
        except NotFound:
            continue  # an artifact the agent did not write; declared outputs were checked by the loop
        except InputError as e:
            refused.append(f"{path} ({e.message})")
            continue
        got.append(path)
        refused += [f"{name} (a link: links are not created on the host)" for name in result.skipped_links]
    return got, refused_note(refused)


def refused_note(refused: list[str]) -> str | None:
    if not refused:
        return None
    shown = "; ".join(refused[:10]) + (f"; and {len(refused) - 10} more" if len(refused) > 10 else "")
    return f"not written: {shown}"


def write_file_below(root: Path, rel: str, data: bytes) -> Path:
    """Write ``data`` at ``root/rel`` on the host, refusing ``..``, absolute paths and any
    symbolic link from ``root`` down (an existing link at the target is replaced, not followed)."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise PathOutsideWorkspace(f"{rel!r} is not a path inside the output folder")
    root.mkdir(parents=True, exist_ok=True)
    current = root
    for part in parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise PathOutsideWorkspace(f"{current} is a symbolic link: nothing is written through it")
        current.mkdir(exist_ok=True)
    target = current / parts[-1]
    if target.is_symlink() or (target.exists() and not stat.S_ISREG(target.lstat().st_mode)):
        target.unlink()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return target


async def extract_bytes(
    data: bytes, root: Path, into: str = "", limits: ExtractLimits | None = None
) -> ExtractResult:
    """Extract a tar held in memory (a folder downloaded through the API) at ``root/into`` like
    :func:`download_outputs` does: no links, nothing outside ``root``, at most ``limits``."""

    async def chunks() -> AsyncIterator[bytes]:
        buffer = io.BytesIO(data)
        while block := buffer.read(256 * 1024):
            yield block

    dest = root / into if into else root
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    return await extract_tar(chunks(), str(dest), str(root), limits=limits, links=False)
