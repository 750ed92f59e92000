"""What ``hangar run --output-dir`` leaves behind for CI: ``result.json``, ``steps.jsonl``,
``summary.md`` and the files the run produced; plus the GitHub Actions job summary."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime import steps as s
from runtime.agent.events import RunStatus

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
    (out_dir / "result.json").write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    with (out_dir / "steps.jsonl").open("w") as fh:
        for step in steps:
            fh.write(json.dumps(s.dump_step(step), ensure_ascii=False) + "\n")
    (out_dir / "summary.md").write_text(report.summary_md())


def append_github_summary(report: RunReport) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(report.summary_md())
