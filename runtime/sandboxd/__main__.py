"""Entry point: ``python -m runtime.sandboxd`` inside the box.

Environment: ``SANDBOXD_TOKEN`` (required; removed from the environment once read so commands
never inherit it), ``SANDBOXD_SOCKET_DIR`` (default ``/run/sandboxd``), ``SANDBOXD_WORKSPACE``
(default ``/workspace``). Logs go to stderr, which the host reads with ``docker logs``.
SIGTERM, SIGINT or ``POST /shutdown`` stop it cleanly (sessions killed, browser closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time

from runtime.sandboxd import egress_relay
from runtime.sandboxd.app import Config, create_app
from runtime.sandboxd.server import serve_unix

log = logging.getLogger("sandboxd")

SOCKET_NAME = "sandboxd.sock"
"""``protocol.SOCKET_NAME``, repeated so start-up does not import pydantic (a test keeps them equal)."""


def _warm() -> None:
    """Import the route handlers and wire models while the first requests are being awaited."""
    try:
        import runtime.sandboxd.routes  # noqa: F401
    except Exception:
        log.exception("warming the route handlers failed")


async def main() -> int:
    t0 = time.monotonic()
    token = os.environ.pop("SANDBOXD_TOKEN", "")
    if not token:
        log.error("SANDBOXD_TOKEN is not set; refusing to start")
        return 2
    socket_dir = os.environ.get("SANDBOXD_SOCKET_DIR", "/run/sandboxd")
    config = Config(
        token=token, workspace=os.environ.get("SANDBOXD_WORKSPACE", "/workspace"), reap_all_children=True
    )
    app = create_app(config)
    app.daemon.get_children()  # reap orphans from the start: we are usually PID 1
    path = os.path.join(socket_dir, SOCKET_NAME)
    relay = await egress_relay.start_from_env()  # only boxes with egress; see egress_relay
    server = await serve_unix(app, path)
    ready_ms = (time.monotonic() - t0) * 1000
    log.info("sandboxd listening on %s (pid %d, ready in %.0f ms)", path, os.getpid(), ready_ms)
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
