"""The image is versioned by content: a fresh one is reused; a build removes older hash tags only
when no container uses them and they are not among the newest few, so checkouts and CI jobs that
share one engine never lose the image their running tests use."""

from __future__ import annotations

import contextlib
import io
import secrets
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from runtime.sandbox.images import BASE_IMAGE, build_context, ensure_image, remove_stale_tags

pytestmark = pytest.mark.docker


def test_fresh_image_is_not_rebuilt(docker_client: Any, sandbox_image: str) -> None:
    lines: list[str] = []
    assert ensure_image(docker_client, log=lines.append) == sandbox_image
    assert lines == [f"{sandbox_image} is up to date"]
    assert sandbox_image == build_context().tag


@pytest.fixture
def own_repo(docker_client: Any) -> Iterator[str]:
    """An image repository of this test's own (the shared ``hangar-sandbox`` one is left alone),
    and its containers and images removed at the end."""
    repo = f"hangar-stale-test-{secrets.token_hex(4)}"
    yield repo
    for container in docker_client.containers.list(all=True, filters={"label": f"test.repo={repo}"}):
        container.remove(force=True)
    for image in docker_client.images.list(name=repo):
        for tag in image.tags:
            with contextlib.suppress(docker.errors.APIError):
                docker_client.images.remove(tag)


def build_tag(client: Any, repo: str, index: int) -> str:
    """A small image of its own (the base plus a label), tagged like a content hash."""
    tag = f"{repo}:{index:012x}"
    dockerfile = f"FROM {BASE_IMAGE}\nLABEL test.build={index}\n".encode()
    client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
    return tag


def test_a_build_keeps_what_other_trees_use_and_the_newest_few(docker_client: Any, own_repo: str) -> None:
    stopped, running, unused, newest_other, just_built = (
        build_tag(docker_client, own_repo, i) for i in range(5)
    )
    labels = {"test.repo": own_repo}
    docker_client.containers.create(stopped, ["true"], network_mode="none", labels=labels)
    box = docker_client.containers.run(
        running, ["sleep", "300"], detach=True, network_mode="none", labels=labels
    )
    docker_client.images.get(just_built).tag(own_repo, "latest")
    docker_client.images.get(unused).tag(own_repo, "hand-made")  # not a content hash: never touched
    for used in (stopped, running):  # a second name: the engine itself would let the hash tag go
        docker_client.images.get(used).tag(own_repo, f"alias-{used[-1]}")

    lines: list[str] = []
    removed = remove_stale_tags(
        docker_client, keep=just_built, log=lines.append, repo=own_repo, keep_newest=1
    )

    assert removed == [unused] and lines == [f"removed stale {unused}"]
    tags = {tag for image in docker_client.images.list(name=own_repo) for tag in image.tags}
    assert {stopped, running, newest_other, just_built, f"{own_repo}:latest", f"{own_repo}:hand-made"} <= tags
    assert unused not in tags
    box.reload()
    assert box.status == "running"

    box.remove(force=True)  # once nothing uses it and newer ones exist, it goes too
    again = remove_stale_tags(docker_client, keep=just_built, log=lines.append, repo=own_repo, keep_newest=1)
    assert again == [running]
