"""The host's connection to one box's sandboxd, over a socket path the box itself can rewrite.

The socket lives in a host directory bind-mounted into the box, so code in the box (the same uid as
sandboxd) can replace it with a symlink to another host socket, or with a server of its own. Before
each connect the path is opened with ``O_PATH|O_NOFOLLOW`` (no symlink is followed, nothing is
read), the opened inode is checked (a socket, owned by the box's uid) and the connection is made
through ``/proc/self/fd/N``: the inode that was checked is the one connected to, whatever the box
does to the path in between. Nothing but that one unix socket is ever dialled.

The agent runs as sandboxd's uid, so it can still bind a socket of its own at that path. The
listener's pid (``SO_PEERCRED``, in the host's pid namespace) tells them apart: the first connection
of a box is made while the box runs nothing but sandboxd (no agent code exists before sandboxd
answers), so its listener pid is pinned, and every later connection to another listener is closed
before a byte (the token included) is sent. sandboxd makes itself non-dumpable, so the agent cannot
ptrace it, read its memory or take its listening socket.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
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


def listener_pid(stream: httpcore.AsyncNetworkStream) -> int | None:
    """The pid of the process that listens on the other end (``None`` when not a unix socket)."""
    sock = stream.get_extra_info("socket")
    if not isinstance(sock, socket.socket) or sock.family != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, _uid, _gid = struct.unpack("3i", creds)
    return int(pid)


class CheckedUnixBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that dials only checked unix sockets (see the module doc).

    ``owner_uid``/``peer_pid``: the socket owner and listener pid every connection must have;
    ``None`` pins the first connection's.
    """

    def __init__(self, owner_uid: int | None, peer_pid: int | None = None) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._owner_uid = owner_uid
        self.peer_pid = peer_pid

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        fd = open_checked(Path(path), self._owner_uid)
        if self._owner_uid is None:
            self._owner_uid = os.fstat(fd).st_uid  # pinned like the listener's pid
        try:
            stream = await self._inner.connect_unix_socket(f"/proc/self/fd/{fd}", timeout, socket_options)
        finally:
            os.close(fd)
        pid = listener_pid(stream)
        if self.peer_pid is None:
            self.peer_pid = pid
        elif pid != self.peer_pid:
            await stream.aclose()
            raise SocketRefused(
                f"refusing {path}: its listener (pid {pid}) is not the box's sandboxd (pid {self.peer_pid})"
            )
        return stream

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

    def __init__(self, socket_path: Path, *, owner_uid: int | None, peer_pid: int | None = None) -> None:
        # Not super().__init__(): that builds a TLS context (tens of ms) this transport never uses.
        self.backend = CheckedUnixBackend(owner_uid, peer_pid)
        self._pool = httpcore.AsyncConnectionPool(
            uds=str(socket_path), network_backend=self.backend,
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_EXPIRY_S,
            http1=True, http2=False,
        )
