"""The image is versioned by content: a fresh one is reused, stale hash tags are cleaned up."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.sandbox.images import IMAGE_REPO, _remove_stale_tags, build_context, ensure_image

pytestmark = pytest.mark.docker


def test_fresh_image_is_not_rebuilt(docker_client: Any, sandbox_image: str) -> None:
    lines: list[str] = []
    assert ensure_image(docker_client, log=lines.append) == sandbox_image
    assert lines == [f"{sandbox_image} is up to date"]
    assert sandbox_image == build_context().tag


def test_stale_hash_tags_are_removed_and_the_current_one_kept(docker_client: Any, sandbox_image: str) -> None:
    docker_client.images.get(sandbox_image).tag(IMAGE_REPO, "000000000000")
    removed: list[str] = []
    _remove_stale_tags(docker_client, keep=sandbox_image, log=removed.append)
    tags = {t for image in docker_client.images.list(name=IMAGE_REPO) for t in image.tags}
    assert f"{IMAGE_REPO}:000000000000" not in tags
    assert sandbox_image in tags and f"{IMAGE_REPO}:latest" in tags
    assert f"removed stale {IMAGE_REPO}:000000000000" in removed
