"""Two real servers on one PostgreSQL: an interaction run by one is streamed live from the other,
the events arriving through ``LISTEN/NOTIFY`` (the reader's poll interval is set far longer than
the whole run); 50 runs created on both servers all complete, each step logged once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from fleet_harness import Fleet, wait_for
from server_process import fake_gemini

from runtime.llm.script import forever, turn

MODEL = "gemini-3-flash-preview"
SLOW_POLL = "30"  # the readers' re-read interval: nothing may arrive by polling in these tests


@pytest.mark.slow
def test_a_stream_on_one_server_sees_the_other_servers_steps_at_once(fleet: Fleet) -> None:
    settings = {"HANGAR_SANDBOXES": "false", "HANGAR_POLL_SECONDS": SLOW_POLL}
    with fake_gemini(forever(turn("from the other server", thought="hmm", delay_s=1.5))) as fake:
        runner = fleet.add(fake.base_url, **settings)
        reader = fleet.add(fake.base_url, **settings)
        writer_client, reader_client = runner.client(), reader.client()
        created = writer_client.interactions.create(model=MODEL, input="hi", background=True)
        received: dict[int, float] = {}
        kinds: list[str] = []
        started = time.monotonic()
        subscribed = time.time()

        def read() -> None:
            for event in reader_client.interactions.get(created.id, stream=True):
                received[int(event.event_id or 0)] = time.time()
                kinds.append(event.event_type or "")

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        thread.join(25)
        elapsed = time.monotonic() - started
        assert not thread.is_alive(), f"the stream did not end: {kinds}\n{reader.log_tail()}"
        assert kinds[-1] == "interaction.completed", kinds
        assert "step.start" in kinds and "step.delta" in kinds
        assert elapsed < float(SLOW_POLL) / 3, elapsed  # polling would have taken a poll interval
        written = fleet.event_times(created.id)
        # Events written after the reader subscribed (those before come from the first read).
        live = [received[seq] - written[seq] for seq in received if written[seq] > subscribed + 0.5]
        assert live, "no event arrived live"
        assert max(live) < 2.0, sorted(live)  # milliseconds in practice; 2 s leaves room for load
        assert not fake.failures


@pytest.mark.slow
def test_fifty_runs_across_two_servers_each_step_once(fleet: Fleet) -> None:
    settings = {"HANGAR_SANDBOXES": "false"}
    with fake_gemini(forever(turn("alpha beta", thought="thinking"))) as fake:
        servers = [fleet.add(fake.base_url, **settings), fleet.add(fake.base_url, **settings)]
        clients = [s.client() for s in servers]
        ids = [
            clients[n % 2].interactions.create(model=MODEL, input=f"n{n}", background=True).id
            for n in range(50)
        ]

        def all_done() -> bool:
            return all(clients[n % 2].interactions.get(i).status != "in_progress" for n, i in enumerate(ids))

        wait_for(all_done, 120, "50 interactions to finish")
        for n, interaction_id in enumerate(ids):
            done = clients[(n + 1) % 2].interactions.get(interaction_id)  # read on the other one
            assert done.status == "completed", getattr(done, "errors", None)
            assert [s.type for s in done.steps or []] == ["user_input", "thought", "model_output"]
            events = [e.event for e in fleet.events(interaction_id)]
            starts = Counter(e["index"] for e in events if e["event_type"] == "step.start")
            assert sorted(starts) == [1, 2] and set(starts.values()) == {1}, starts
        assert len(fake.requests) == 50  # no run was started twice
        finished = [s.log_tail(100_000).count('"interaction.finished"') for s in servers]
        assert sum(finished) == 50 and all(finished), finished  # both servers ran some
