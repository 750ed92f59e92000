"""Triggers through the real google-genai client against a real server: CRUD and validation, run
now, shared environments, skipped overlaps, failures pausing a trigger, timeouts, and one real
tick of a one-minute schedule. Agent runs go to real sandboxes; the model is the scripted fake."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from api_harness import HangarServer
from google import genai
from google.genai import _interactions as errors
from harness.sdk import environments_of

from runtime.llm import call, turn

pytestmark = pytest.mark.docker

AGENT = "antigravity"
WALKTHROUGH = call("update_artifact", artifact="walkthrough", content="# Walkthrough\n", id="wt")


def triggers_of(client: genai.Client) -> Any:
    with warnings.catch_warnings():  # the SDK flags these surfaces as experimental
        warnings.simplefilter("ignore", UserWarning)
        return client.triggers


def wait_for(read: Callable[[], Any], ok: Callable[[Any], bool], limit_s: float = 90) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        value = read()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def executions(client: genai.Client, trigger_id: str) -> list[Any]:
    return list(triggers_of(client).list_executions(trigger_id).trigger_executions or [])


def settled(client: genai.Client, trigger_id: str, execution_id: str) -> Any:
    def read() -> Any:
        return next(e for e in executions(client, trigger_id) if e.id == execution_id)

    return wait_for(read, lambda e: e.status != "in_progress")


@pytest.fixture
def made(hangar: HangarServer) -> Iterator[list[str]]:
    """Triggers the test created, deleted afterwards so that none goes on firing."""
    ids: list[str] = []
    yield ids
    client = hangar.client()
    for trigger_id in ids:
        with contextlib.suppress(errors.NotFoundError):
            triggers_of(client).delete(trigger_id)


def create(client: genai.Client, made: list[str], **fields: Any) -> Any:
    body = {"interaction": {"agent": AGENT, "input": "scheduled work"}, "schedule": "0 9 * * *",
            "time_zone": "Europe/Berlin", **fields}
    trigger = triggers_of(client).create(**body)
    made.append(trigger.id)
    return trigger


def test_crud_pause_resume_and_isolation(hangar: HangarServer, made: list[str]) -> None:
    client = hangar.client()
    triggers = triggers_of(client)
    trigger = create(client, made, display_name="nightly", max_consecutive_failures=3)
    assert trigger.id.startswith("trg_") and trigger.status == "active"
    assert trigger.schedule == "0 9 * * *" and trigger.time_zone == "Europe/Berlin"
    assert trigger.interaction.agent == AGENT
    assert trigger.next_run_time is not None
    assert trigger.next_run_time.astimezone(UTC).hour in (7, 8)  # 09:00 in Berlin, CET or CEST
    assert trigger.consecutive_failure_count == 0

    assert triggers.get(trigger.id).display_name == "nightly"
    assert trigger.id in [t.id for t in triggers.list().triggers]
    assert trigger.id in [t.id for t in triggers.list(filter_="status=active").triggers]
    assert trigger.id not in [t.id for t in (triggers.list(filter_="status=paused").triggers or [])]

    renamed = triggers.update(trigger.id, display_name="renamed")
    assert renamed.display_name == "renamed" and renamed.status == "active"
    paused = triggers.update(trigger.id, status="paused")
    assert paused.status == "paused" and paused.next_run_time is None and paused.last_pause_time
    resumed = triggers.update(trigger.id, status="active")
    assert resumed.status == "active" and resumed.next_run_time and resumed.last_resume_time

    other_client = hangar.client(hangar.other_key)
    other = triggers_of(other_client)
    with pytest.raises(errors.NotFoundError):
        other.get(trigger.id)
    with pytest.raises(errors.NotFoundError):
        other.run(trigger.id)
    assert trigger.id not in [t.id for t in (other.list().triggers or [])]

    triggers.delete(trigger.id)
    with pytest.raises(errors.NotFoundError):
        triggers.get(trigger.id)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"schedule": "every day"}, "schedule"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"interaction": {"agent": AGENT}}, "input"),
        ({"interaction": {"agent": AGENT, "input": "x", "stream": True}}, "interaction.stream"),
        ({"interaction": {"agent": AGENT, "input": "x", "generation_config": {"temperature": 1}}},
         "generation_config"),
        ({"execution_timeout_seconds": 0}, "execution_timeout_seconds"),
        ({"max_consecutive_failures": 0}, "max_consecutive_failures"),
    ],
)
def test_bad_fields_are_400s_naming_them(
    hangar: HangarServer, made: list[str], fields: dict[str, Any], named: str
) -> None:
    client = hangar.client()
    with pytest.raises(errors.BadRequestError) as caught:
        create(client, made, **fields)
    assert named in str(caught.value.body)


def test_unknown_field_agent_and_environment(hangar: HangarServer, made: list[str]) -> None:
    client = hangar.client()
    triggers = triggers_of(client)
    base = {"interaction": {"agent": AGENT, "input": "x"}, "schedule": "0 9 * * *", "time_zone": "UTC"}
    with pytest.raises(errors.BadRequestError) as caught:
        triggers.create(**base, extra_body={"event": "push"})
    assert "event" in str(caught.value.body)
    with pytest.raises(errors.NotFoundError):
        triggers.create(**{**base, "interaction": {"agent": "no-such-agent", "input": "x"}})
    with pytest.raises(errors.NotFoundError):
        triggers.create(**base, environment_id="env_missing")
    with pytest.raises(errors.BadRequestError) as error_status:
        triggers.update(create(client, made).id, status="error")
    assert "status" in str(error_status.value.body)


def test_run_now_shared_environment_and_skipped_overlap(hangar: HangarServer, made: list[str]) -> None:
    client = hangar.client()
    triggers = triggers_of(client)
    environment = environments_of(client).create()
    trigger = create(client, made, environment_id=environment.id)
    assert trigger.environment_id == environment.id
    hangar.script.set(
        turn(calls=[call("shell", command="echo from-run-one > shared.txt && sleep 3", id="s1")]),
        turn(calls=[WALKTHROUGH]),
        turn("first done"),
        turn(calls=[call("shell", command="cat shared.txt", id="s2")]),
        turn(calls=[WALKTHROUGH]),
        turn("second done"),
    )
    first = triggers.run(trigger.id)
    assert first.status == "in_progress" and first.trigger_id == trigger.id
    assert first.interaction_id and first.environment_id == environment.id and first.start_time

    overlap = triggers.run(trigger.id)  # the first one is still running
    assert overlap.status == "skipped" and overlap.interaction_id is None and overlap.error

    done = settled(client, trigger.id, first.id)
    assert done.status == "completed", done.error
    assert done.end_time is not None and done.scheduled_time is not None
    run = client.interactions.get(first.interaction_id)
    assert run.status == "completed" and run.environment_id == environment.id

    second = settled(client, trigger.id, triggers.run(trigger.id).id)
    assert second.status == "completed", second.error
    assert second.interaction_id != first.interaction_id
    assert client.interactions.get(second.interaction_id).environment_id == environment.id
    assert "from-run-one" in str(hangar.script.requests[4])  # the second run read the first one's file
    listed = executions(client, trigger.id)
    assert {e.status for e in listed} == {"completed", "skipped"} and len(listed) == 3
    assert triggers.get(trigger.id).previous_interaction_id == second.interaction_id


def test_consecutive_failures_set_status_error(hangar: HangarServer, made: list[str]) -> None:
    client = hangar.client()
    triggers = triggers_of(client)
    trigger = create(client, made, max_consecutive_failures=2)
    hangar.script.set(turn(status=400), turn(status=400))
    for count in (1, 2):
        failed = settled(client, trigger.id, triggers.run(trigger.id).id)
        assert failed.status == "failed" and failed.error
        assert triggers.get(trigger.id).consecutive_failure_count == count
    broken = triggers.get(trigger.id)
    assert broken.status == "error" and broken.next_run_time is None
    resumed = triggers.update(trigger.id, status="active")
    assert resumed.status == "active" and resumed.consecutive_failure_count == 0


def test_execution_timeout_cancels_the_run(hangar: HangarServer, made: list[str]) -> None:
    client = hangar.client()
    triggers = triggers_of(client)
    trigger = create(client, made, execution_timeout_seconds=2)
    hangar.script.set(turn(calls=[call("shell", command="sleep 60", id="s1")]), turn("never"))
    execution = settled(client, trigger.id, triggers.run(trigger.id).id)
    assert execution.status == "timed_out" and "execution_timeout_seconds" in (execution.error or "")
    run = wait_for(
        lambda: client.interactions.get(execution.interaction_id), lambda i: i.status != "in_progress"
    )
    assert run.status == "cancelled"
    assert triggers.get(trigger.id).consecutive_failure_count == 1


def test_one_minute_schedule_really_fires(hangar: HangarServer, made: list[str]) -> None:
    client = hangar.client()
    hangar.script.set(turn(calls=[WALKTHROUGH]), turn("tick"))
    trigger = create(client, made, schedule="* * * * *", time_zone="UTC")
    first_tick = trigger.next_run_time
    assert first_tick.second == 0 and first_tick > datetime.now(UTC)
    fired = wait_for(lambda: executions(client, trigger.id), bool, limit_s=120)
    assert fired, "no execution within two minutes of a one-minute schedule"
    (execution,) = [e for e in fired if e.scheduled_time == first_tick]
    # the execution is listed from the moment its tick is claimed; its interaction is attached once
    # created, so the run is read from the settled execution
    done = settled(client, trigger.id, execution.id)
    assert done.status == "completed", done.error
    assert client.interactions.get(done.interaction_id).status == "completed"
    later = triggers_of(client).get(trigger.id)
    assert later.last_run_time == first_tick and later.next_run_time > first_tick
