"""The two Deep Research versions through the real google-genai client against a real server (agent
loop in a real Docker sandbox, scripted fake Gemini): Google's ids reach the right version, each
calls its own model and is held to its own token budget."""

from __future__ import annotations

import time
from typing import Any

import pytest
from api_harness import HangarServer

from runtime.llm import call, turn

pytestmark = pytest.mark.docker

BIG_TURN_TOKENS = 3_000_000
"""More than the fast version's token budget (2M), well within the deep one's (16M)."""


def wait_done(hangar: HangarServer, interaction_id: str, limit_s: float = 120) -> Any:
    client = hangar.client()
    deadline = time.monotonic() + limit_s
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status != "in_progress" or time.monotonic() > deadline:
            return interaction
        time.sleep(0.2)


def _run(hangar: HangarServer, agent: str) -> tuple[Any, list[str]]:
    seen = len(hangar.script.paths)
    hangar.script.set(
        turn(
            calls=[call("update_artifact", artifact="plan", content="- [ ] look it up", id="p1")],
            usage={"prompt": BIG_TURN_TOKENS - 100, "output": 100},
        ),
        turn("Answer: 42, see report.md."),
    )
    client = hangar.client()  # kept: a client left to the garbage collector closes its connection
    created = client.interactions.create(
        agent=agent, input="how many?", agent_config={"type": "deep-research"}, background=True
    )
    return wait_done(hangar, created.id), hangar.script.paths[seen:]


@pytest.mark.parametrize("agent", ["deep-research-preview-04-2026", "deep-research-pro-preview-12-2025"])
def test_fast_ids_run_the_fast_version_on_its_budget(hangar: HangarServer, agent: str) -> None:
    done, paths = _run(hangar, agent)
    assert paths and all("/models/gemini-3-flash-preview:" in p for p in paths), paths
    assert done.status == "budget_exceeded", done
    assert len(paths) == 1  # the second turn never ran: the budget ended the run first


def test_max_ids_run_the_deep_version_on_its_budget(hangar: HangarServer) -> None:
    done, paths = _run(hangar, "deep-research-max-preview-04-2026")
    assert len(paths) == 2 and all("/models/gemini-3.1-pro-preview:" in p for p in paths), paths
    assert done.status == "completed", done
