"""The host's connection to one box's sandboxd, over a socket path the box itself can rewrite.

The socket lives in a host directory bind-mounted into the box, so code in the box (the same uid as
sandboxd) can replace it with a symlink to another host socket, or with a server of its own. Before
each connect the path is opened with ``O_PATH|O_NOFOLLOW`` (no symlink is followed, nothing is
read), the opened inode is checked (a socket, owned by the box's uid) and the connection is made
through ``/proc/self/fd/N``: the inode that was checked is the one connected to, whatever the box
does to the path in between. Nothing but that one unix socket is ever dialled.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

import httpcore
import httpx

KEEPALIVE_EXPIRY_S = 5.0


class SocketRefused(httpcore.ConnectError):
    """The socket path is not a socket the box's sandboxd owns; no connection was attempted."""


def open_checked(path: Path, owner_uid: int | None) -> int:
    """An ``O_PATH`` descriptor of ``path`` after checking it is a socket (not a symlink) owned by
    ``owner_uid`` (any owner when ``None``), in a directory that is not a symlink either."""
    flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        dir_fd = os.open(path.parent, flags | os.O_DIRECTORY)
    except OSError as e:
        raise SocketRefused(f"socket directory {path.parent} unusable: {e.strerror}") from e
    try:
        fd = os.open(path.name, flags, dir_fd=dir_fd)
    except FileNotFoundError as e:
        raise httpcore.ConnectError(f"no socket at {path}") from e
    except OSError as e:
        raise SocketRefused(f"socket {path} unusable: {e.strerror}") from e
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        why = _refusal(st, owner_uid)
        if why is not None:
            raise SocketRefused(f"refusing to connect to {path}: {why}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refusal(st: os.stat_result, owner_uid: int | None) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link, not sandboxd's socket"
    if not stat.S_ISSOCK(st.st_mode):
        return "it is not a socket"
    if owner_uid is not None and st.st_uid != owner_uid:
        return f"it is owned by uid {st.st_uid}, not the box's uid {owner_uid}"
    return None


class CheckedUnixBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that dials only checked unix sockets (see the module doc)."""

    def __init__(self, owner_uid: int | None) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._owner_uid = owner_uid

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        fd = open_checked(Path(path), self._owner_uid)
        try:
            return await self._inner.connect_unix_socket(f"/proc/self/fd/{fd}", timeout, socket_options)
        finally:
            os.close(fd)

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the sandboxd transport dials only its unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class SandboxdTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over one checked unix socket: HTTP/1.1, no TLS, no proxy, no environment."""

    def __init__(self, socket_path: Path, *, owner_uid: int | None) -> None:
        # Not super().__init__(): that builds a TLS context (tens of ms) this transport never uses.
        self._pool = httpcore.AsyncConnectionPool(
            uds=str(socket_path), network_backend=CheckedUnixBackend(owner_uid),
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_EXPIRY_S,
            http1=True, http2=False,
        )
