"""The server's file boxes: a box that was retired (it answered out of protocol) is replaced."""

from __future__ import annotations

from runtime.sandbox.base import SandboxSpec, SandboxState
from runtime.sandbox.local import LocalProvider
from runtime.service.file_boxes import FileBoxes


async def test_a_retired_file_box_is_replaced_by_a_new_one() -> None:
    async with LocalProvider() as provider:
        boxes = FileBoxes(provider, SandboxSpec(), idle_seconds=60)
        try:
            async with boxes.open("vol") as first:
                pass
            async with boxes.open("vol") as again:
                assert again is first  # kept while in its idle window
            first.state = SandboxState.DEAD  # what DockerSandbox does when it retires a box
            async with boxes.open("vol") as second:
                assert second is not first
                assert (await second.client.health()).status == "ok"
        finally:
            await boxes.stop()
