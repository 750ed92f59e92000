"""The agent attacks the host's disk from inside a real box: it writes past the workspace quota.
The host measures the volume (not the box) and stops the box; the run fails saying why."""

from __future__ import annotations

import pytest
from files_harness import QUOTA_BYTES, FilesServer, MiB, wait_done

from runtime.llm import call, turn

pytestmark = pytest.mark.docker


def test_a_box_writing_past_its_quota_is_stopped_and_its_run_fails(files_server: FilesServer) -> None:
    client = files_server.client()
    environments = files_server.environments()
    env = environments.create()
    try:
        size_mb = 2 * QUOTA_BYTES // MiB
        # Real blocks (zeros from /dev/zero, not a sparse file), spread over many files, one of
        # them in a folder the agent made unreadable: none of that hides it from the host's count.
        fill = (
            f"mkdir -p hide && for i in $(seq {size_mb}); do head -c 1M /dev/zero > hide/f$i; done && "
            "chmod 000 hide && sleep 120"
        )
        files_server.script.set(turn(calls=[call("shell", command=fill, id="fill")]))
        created = client.interactions.create(
            agent="antigravity", input="fill the disk", environment=env.id, background=True
        )
        done = wait_done(client, created.id)
        assert done.status == "failed", done
        message = " ".join(e.message for e in (done.errors or []))
        assert "exceeded its workspace quota" in message, done
        assert f"the quota is {QUOTA_BYTES} (HANGAR_WORKSPACE_QUOTA_BYTES)" in message
    finally:
        environments.delete(env.id)
