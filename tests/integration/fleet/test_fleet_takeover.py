"""Takeover across servers on one PostgreSQL: ``kill -9`` of the server running an agent mid-run,
and the other server resumes it within 10 s (the default lease), every step logged exactly once;
SIGTERM drains: a run that ends within the grace period ends there, the rest is handed back at
once (released, not left to expire) and the other server finishes it."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import Counter

import docker
import pytest
from fleet_harness import Fleet, wait_for
from server_process import fake_gemini

from runtime.llm.script import JsonDict, ScriptedTurn, call, request_parts, turn
from runtime.sandbox.engine import namespace_filter
from runtime.worker.agent_runner import workspace_volume

AGENT = "antigravity"
MODEL = "gemini-3-flash-preview"


def answered(request: JsonDict) -> list[str]:
    return [
        str(p["functionResponse"].get("id"))
        for p in request_parts(request)
        if isinstance(p.get("functionResponse"), dict)
    ]


def agent_script(request: JsonDict) -> ScriptedTurn:
    """Each turn follows from the last answered call, so a repeated request gets the same answer."""
    done = answered(request)
    last = done[-1] if done else None
    if last is None:
        return turn(calls=[call("shell", command="echo before-kill > kept.txt && sleep 60", id="s1")])
    if last == "s1":
        return turn(calls=[call("shell", command="cat kept.txt", id="s2")])
    return turn("Taken over and finished.")


def step_starts(fleet: Fleet, interaction_id: str) -> Counter[int]:
    events = [e.event for e in fleet.events(interaction_id)]
    return Counter(e["index"] for e in events if e.get("event_type") == "step.start")


def attempt_times(fleet: Fleet, interaction_id: str) -> list[float]:
    """When each attempt started (its ``interaction.status_update`` in_progress was written)."""
    times = fleet.event_times(interaction_id)
    return sorted(
        times[e.seq]
        for e in fleet.events(interaction_id)
        if e.event.get("event_type") == "interaction.status_update" and e.event.get("status") == "in_progress"
    )


def remove_boxes(namespaces: list[str], volume: str | None) -> list[str]:
    engine = docker.from_env()
    left: list[str] = []
    try:
        for namespace in namespaces:
            for container in engine.containers.list(all=True, filters=namespace_filter(namespace)):
                left.append(container.name)
                container.remove(force=True)
        if volume is not None:
            with contextlib.suppress(docker.errors.NotFound):
                engine.volumes.get(volume).remove(force=True)
    finally:
        engine.close()
    return left


@pytest.mark.docker
@pytest.mark.slow
def test_kill_9_of_one_server_mid_run_the_other_takes_over_within_10_s(
    fleet: Fleet, sandbox_image: str
) -> None:
    # Default lease (no HANGAR_LEASE_SECONDS): the takeover time is the shipped one.
    namespaces = [f"{fleet.namespace}-a", f"{fleet.namespace}-b"]
    volume = None
    with fake_gemini(agent_script) as fake:
        first = fleet.add(
            fake.base_url, HANGAR_SANDBOX_IMAGE=sandbox_image, HANGAR_SANDBOX_NAMESPACE=namespaces[0]
        )
        try:
            client = first.client()
            created = client.interactions.create(agent=AGENT, input="note, then wait", background=True)
            volume = workspace_volume(created.environment_id or created.id)

            def sleeping() -> bool:
                now = client.interactions.get(created.id)
                assert now.status == "in_progress", (now, first.log_tail())
                return any(s.type == "code_execution_call" for s in now.steps or [])

            wait_for(sleeping, 120, "the shell call to be logged")
            second = fleet.add(
                fake.base_url, HANGAR_SANDBOX_IMAGE=sandbox_image, HANGAR_SANDBOX_NAMESPACE=namespaces[1]
            )
            other = second.client()
            killed = time.time()
            first.kill()  # `sleep 60` is running in its box
            wait_for(lambda: other.interactions.get(created.id).status != "in_progress", 120, "the takeover")
            done = other.interactions.get(created.id)
            assert done.status == "completed", (getattr(done, "errors", None), second.log_tail())
            attempts = attempt_times(fleet, created.id)
            assert len(attempts) == 2, attempts
            assert attempts[1] - killed < 10, attempts[1] - killed
            kinds = [s.type for s in done.steps or []]
            assert kinds == [
                "user_input",
                "code_execution_call", "code_execution_result",  # s1: answered as interrupted
                "code_execution_call", "code_execution_result",  # s2: cat kept.txt
                "model_output",
            ], kinds
            steps = done.steps or []
            assert "interrupted" in str(steps[2].result)  # type: ignore[union-attr]
            assert "before-kill" in str(steps[4].result)  # type: ignore[union-attr]  # same workspace
            starts = step_starts(fleet, created.id)
            assert starts and set(starts.values()) == {1}, starts
            assert "interaction.resumed" in second.log_tail(100_000)
            assert not fake.failures
        finally:
            for server in fleet.servers:
                server.stop()
            remove_boxes(namespaces, volume)


class DrainScript:
    """Model turns: ``quick`` answers after 1 s; ``slow`` takes a minute the first time only."""

    def __init__(self) -> None:
        self.slow_calls = 0
        self.lock = threading.Lock()

    def __call__(self, request: JsonDict) -> ScriptedTurn:
        text = str(request)
        if "quick" in text:
            return turn("quick answer", delay_s=1.0)
        with self.lock:
            self.slow_calls += 1
            first = self.slow_calls == 1
        return turn("slow answer", delay_s=60.0 if first else 0.0)


@pytest.mark.slow
def test_sigterm_drains_finishes_what_it_can_and_hands_back_the_rest(fleet: Fleet) -> None:
    script = DrainScript()
    settings = {"HANGAR_SANDBOXES": "false", "HANGAR_SHUTDOWN_GRACE_SECONDS": "4"}
    with fake_gemini(script) as fake:
        draining = fleet.add(fake.base_url, **settings)
        client = draining.client()
        slow = client.interactions.create(model=MODEL, input="slow", background=True)
        quick = client.interactions.create(model=MODEL, input="quick", background=True)
        wait_for(lambda: len(fake.requests) >= 2, 30, "both model calls to start")
        assert draining.process is not None
        draining.process.terminate()  # SIGTERM
        other = fleet.add(fake.base_url, **settings)  # starts while the first one drains
        # uvicorn re-raises the signal once it shut down cleanly: killed by SIGTERM, after the drain.
        assert draining.process.wait(60) in (0, -signal.SIGTERM), draining.log_tail()
        log = draining.log_tail(100_000)
        assert "Application shutdown complete" in log, log
        assert "worker.stop_claiming" in log and "interaction.released" in log, log
        reader = other.client()
        wait_for(lambda: reader.interactions.get(slow.id).status != "in_progress", 30, "the hand-back")
        for interaction_id, text in ((quick.id, "quick answer"), (slow.id, "slow answer")):
            done = reader.interactions.get(interaction_id)
            assert done.status == "completed", (getattr(done, "errors", None), other.log_tail())
            assert (done.steps or [])[-1].content[0].text == text  # type: ignore[union-attr]
            starts = step_starts(fleet, interaction_id)
            assert set(starts.values()) == {1}, starts
        assert len(attempt_times(fleet, quick.id)) == 1  # finished during the grace period
        slow_attempts = attempt_times(fleet, slow.id)
        assert len(slow_attempts) == 2, slow_attempts
        # Handed back (lease released), not left to expire: resumed as soon as the other server polled.
        assert script.slow_calls == 2
