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


@pytest.mark.parametrize(
    ("agent", "agent_config"),
    [
        ("deep-research-preview-04-2026", {"type": "deep-research", "thinking_summaries": "auto"}),
        ("deep-research-max-preview-04-2026", {"type": "deep-research", "thinking_summaries": "auto"}),
        ("antigravity-preview-05-2026", None),  # Antigravity's agent_config has no switch: always on
    ],
)
def test_thought_summaries_stream_as_thought_steps(
    hangar: HangarServer, agent: str, agent_config: dict[str, Any] | None
) -> None:
    hangar.script.set(
        turn(thought="Frame the question.",
             calls=[call("update_artifact", artifact="plan", content="- [ ] q", id="p1")]),
        turn("Done.", thought="Enough evidence."),
    )
    client = hangar.client()
    events = list(client.interactions.create(
        agent=agent, input="research", agent_config=agent_config, stream=True, background=True,
    ))
    assert events[-1].event_type == "interaction.completed", [e.event_type for e in events]
    thinking = hangar.script.requests[0]["generationConfig"]["thinkingConfig"]
    assert thinking.get("includeThoughts", thinking.get("include_thoughts")) is True
    deltas = [e for e in events if e.event_type == "step.delta" and e.delta.type == "thought_summary"]
    assert "".join(e.delta.content.text for e in deltas) == "Frame the question.Enough evidence."
    starts = [e.step.type for e in events if e.event_type == "step.start"]
    assert starts.count("thought") == 2 and starts[0] == "thought"
    done = client.interactions.get(events[-1].interaction.id)
    summaries = [s.summary[0].text for s in done.steps if s.type == "thought"]
    assert summaries == ["Frame the question.", "Enough evidence."]
