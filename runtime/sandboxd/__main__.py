"""Entry point: ``python -I -m runtime.sandboxd`` inside the box (isolated mode, started outside
the workspace: nothing in ``/workspace`` is on ``sys.path``; the image's ``.pth`` file finds us).

Environment: ``SANDBOXD_TOKEN_FILE`` (a file holding the token, read and deleted before the socket
listens, so no process of the box ever has the token in its environment) or else ``SANDBOXD_TOKEN``
(removed from the environment once read so commands never inherit it), ``SANDBOXD_SOCKET_DIR``
(default ``/run/sandboxd``), ``SANDBOXD_WORKSPACE`` (default ``/workspace``).
``SANDBOXD_TCP_PORT`` (a box the host reaches over a network): listen there with mutual TLS instead
of on the unix socket; the box's certificate and key and the host's certificate are files in
``SANDBOXD_TLS_DIR`` (default: the socket directory), the key deleted once loaded.
Logs go to stderr, which the host reads with ``docker logs``.
SIGTERM, SIGINT or ``POST /shutdown`` stop it cleanly (sessions killed, browser closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time

from runtime.sandboxd import egress_relay
from runtime.sandboxd.app import Config, create_app
from runtime.sandboxd.server import serve_tcp_tls, serve_unix, server_tls_context

log = logging.getLogger("sandboxd")

SOCKET_NAME = "sandboxd.sock"
"""``protocol.SOCKET_NAME``, repeated so start-up does not import pydantic (a test keeps them equal)."""
TLS_FILES = ("tls-server.crt", "tls-server.key", "tls-client.crt")
"""``runtime.sandbox.tcp``'s file names, repeated for the same reason."""


def _warm() -> None:
    """Import the route handlers and wire models while the first requests are being awaited, then
    move what start-up made (it lives as long as the daemon) out of the collector's sight: a full
    collection over it took 4-6 ms, a pause in the middle of whichever call triggered it."""
    try:
        import runtime.sandboxd.routes  # noqa: F401
    except Exception:
        log.exception("warming the route handlers failed")
    gc.freeze()


def _undumpable() -> None:
    """Non-dumpable: code in the box (the same uid) can neither ptrace this process nor read its
    memory, environment or descriptors under ``/proc``. Commands it starts are dumpable again."""
    import ctypes

    pr_set_dumpable = 4
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_DUMPABLE) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as e:
        log.warning("cannot make sandboxd non-dumpable: %s", e)


def _take_token() -> str:
    """The token, from its file (deleted once read) or the environment; ``""`` when missing."""
    env_token = os.environ.pop("SANDBOXD_TOKEN", "")
    path = os.environ.pop("SANDBOXD_TOKEN_FILE", "")
    if not path:
        return env_token
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            token = os.read(fd, 4096).decode().strip()
        finally:
            os.close(fd)
        os.unlink(path)
    except (OSError, UnicodeDecodeError) as e:
        log.error("cannot read the token file %s: %s", path, e)
        return ""
    return token


async def _listen(app: object, socket_dir: str, path: str) -> tuple[asyncio.AbstractServer, str]:
    """The unix socket, or with ``SANDBOXD_TCP_PORT`` the TLS listener (never both)."""
    port = os.environ.pop("SANDBOXD_TCP_PORT", "")
    if not port:
        return await serve_unix(app, path), path
    tls_dir = os.environ.pop("SANDBOXD_TLS_DIR", socket_dir)
    cert, key, client = (os.path.join(tls_dir, name) for name in TLS_FILES)
    try:
        context = server_tls_context(cert, key, client)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(key)  # in memory now; no process of the box reads it again
    return await serve_tcp_tls(app, "0.0.0.0", int(port), context), f"0.0.0.0:{port} (TLS)"


async def main() -> int:
    t0 = time.monotonic()
    _undumpable()
    token = _take_token()
    if not token:
        log.error("no token (SANDBOXD_TOKEN_FILE or SANDBOXD_TOKEN); refusing to start")
        return 2
    socket_dir = os.environ.get("SANDBOXD_SOCKET_DIR", "/run/sandboxd")
    config = Config(
        token=token, workspace=os.environ.get("SANDBOXD_WORKSPACE", "/workspace"), reap_all_children=True
    )
    app = create_app(config)
    app.daemon.get_children()  # reap orphans from the start: we are usually PID 1
    path = os.path.join(socket_dir, SOCKET_NAME)
    relay = await egress_relay.start_from_env()  # only boxes with egress; see egress_relay
    try:
        server, where = await _listen(app, socket_dir, path)
    except (OSError, ValueError) as e:
        log.error("cannot listen: %s", e)
        return 2
    ready_ms = (time.monotonic() - t0) * 1000
    log.info("sandboxd listening on %s (pid %d, ready in %.0f ms)", where, os.getpid(), ready_ms)
    threading.Thread(target=_warm, name="warm-imports", daemon=True).start()
    stop = app.daemon.shutdown_requested
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("sandboxd shutting down")
    server.close()
    if relay is not None:
        relay.close()
    await asyncio.sleep(0.05)  # let the reply to /shutdown leave
    await app.aclose()
    with contextlib.suppress(OSError):
        os.unlink(path)
    return 0


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(asyncio.run(main()))
