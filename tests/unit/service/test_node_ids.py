"""A server's node id: stable for one data directory and namespace while one process holds it."""

from __future__ import annotations

import os
from pathlib import Path

from runtime.service.nodes import claim_node_id


def test_the_stable_id_goes_to_one_process_at_a_time(tmp_path: Path) -> None:
    first, lock = claim_node_id(tmp_path, "ns")
    assert lock is not None
    second, other_lock = claim_node_id(tmp_path, "ns")
    assert other_lock is None and second != first  # a second live process: a node of its own
    assert claim_node_id(tmp_path, "other-ns")[0] != first
    os.close(lock)  # the process ended (a crash drops the lock too)
    again, lock = claim_node_id(tmp_path, "ns")
    assert again == first  # the restarted server is the same node
    assert lock is not None
    os.close(lock)
