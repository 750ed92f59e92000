"""Host-side socket directories of boxes: where each box's sandboxd puts its socket."""

from __future__ import annotations

import shutil
from pathlib import Path

from runtime.sandbox import engine as eng

UNIX_PATH_MAX = 107
"""Longest path a unix socket may have (Linux ``sun_path`` less the terminator)."""


def make_socket_dir(path: Path, token: str) -> None:
    """A directory only the box's user can enter; its sandboxd creates the socket there, after
    reading and deleting the token file (so the token is never in any process's environment)."""
    eng.make_owned_dir(path)
    eng.write_token_file(path, token)


def has_docker_init() -> bool:
    return (
        any(Path(p).exists() for p in ("/usr/bin/docker-init", "/usr/libexec/docker/docker-init"))
        or shutil.which("docker-init") is not None
    )
