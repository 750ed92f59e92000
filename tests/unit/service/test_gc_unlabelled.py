"""Which unlabelled volume names gc takes for an environment's workspace: only the exact name
``workspace_volume`` gives an id, never a look-alike."""

from __future__ import annotations

from runtime.service.gc_unlabelled import spelled_environment
from runtime.worker.agent_runner import workspace_volume


def test_a_workspace_name_spells_its_environment() -> None:
    assert spelled_environment(workspace_volume("env_0123456789abcdef")) == "env_0123456789abcdef"


def test_look_alikes_are_not_hangars() -> None:
    good = workspace_volume("env_0123456789abcdef")
    assert spelled_environment(good[:-8] + "00000000") is None  # digest of another id
    assert spelled_environment(good.replace("hangar-ws-", "other-ws-")) is None
    assert spelled_environment("hangar-ws-0123456789ab") is None  # a box's own volume (labelled)
    assert spelled_environment(good + "-x") is None
    # An id the name had to sanitise cannot be read back from it (only the store's row names it).
    assert spelled_environment(workspace_volume("env/with:odd chars")) is None
