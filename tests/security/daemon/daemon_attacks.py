"""Helpers of the daemon-boundary attacks: hijack files, the impostor, memory, in-box reads."""

from __future__ import annotations

import asyncio
import gzip
import io
import secrets
import time
from pathlib import Path
from typing import Any

from runtime.sandbox.docker import DockerSandbox

MARKERS = "/workspace/.markers"
FILE_BOX_IDLE_S = 1.0
"""The test server's file-box idle window: a later file call starts a new file box."""
IMPOSTOR = Path(__file__).with_name("impostor.py")
API_NAMESPACE = f"test-sec-api-{secrets.token_hex(3)}"
"""Sandbox namespace of the test server (its boxes carry it as a label)."""


def boxes_on_volume(docker_client: Any, namespace: str, volume: str) -> list[str]:
    """Ids of the namespace's running containers that mount ``volume`` (not paused ones: a box kept
    warm after a run runs nothing until the next run resumes it)."""
    found = []
    filters = {"label": f"hangar.namespace={namespace}", "status": "running"}
    for c in docker_client.containers.list(filters=filters):
        if any(m.get("Name") == volume for m in c.attrs.get("Mounts", [])):
            found.append(c.id)
    return found


def marker_code(name: str) -> str:
    """Python that records that it ran (in ``$HIJACK_MARKERS``, else the workspace's marker dir)."""
    return (
        "import os as _o; _d = _o.environ.get('HIJACK_MARKERS', '" + MARKERS + "'); "
        f"_o.makedirs(_d, exist_ok=True); open(_o.path.join(_d, {name!r}), 'w').close()\n"
    )


HIJACKS: dict[str, str] = {
    # the daemon's own package, shadowed from the working directory / PYTHONPATH
    "runtime/__init__.py": marker_code("runtime"),
    "runtime/sandboxd/__init__.py": marker_code("runtime.sandboxd"),
    "runtime/sandboxd/__main__.py": marker_code("runtime.sandboxd.__main__"),
    # standard-library modules the daemon and the kernel import
    "json.py": marker_code("json"),
    "asyncio.py": marker_code("asyncio"),
    "struct.py": marker_code("struct"),
    "signal.py": marker_code("signal"),
    # start-up hooks
    "sitecustomize.py": marker_code("sitecustomize"),
    "usercustomize.py": marker_code("usercustomize"),
    "hijack.pth": marker_code("pth"),  # one line starting with "import": site.py would run it
}
"""Workspace path -> content. Each, if ever imported (or, for the .pth, processed), leaves a marker."""


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def gzip_bomb(expanded: int = 1 << 30) -> bytes:
    """A gzip stream of ``expanded`` zero bytes (about 1 MB for 1 GiB)."""
    buf = io.BytesIO()
    block = bytes(1 << 20)
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as f:
        for _ in range(expanded // len(block)):
            f.write(block)
    return buf.getvalue()


def docker_sh(docker_client: Any, box: DockerSandbox, command: str) -> str:
    """Run ``command`` in the box with ``docker exec`` (not through the socket the agent took)."""
    result = docker_client.api.exec_create(box.container_id, ["bash", "-c", command], user="1000")
    out = docker_client.api.exec_start(result["Id"])
    return out.decode(errors="replace") if isinstance(out, bytes) else str(out)


async def start_impostor(
    box: DockerSandbox, docker_client: Any, mode: str, bomb: bytes | None = None
) -> None:
    """Put the impostor in the box's workspace and start it, detached, as the agent would."""
    await box.client.write_file("impostor.py", Path(__file__).with_name("impostor.py").read_bytes())
    if bomb is not None:
        await box.client.write_file("bomb.gz", bomb)
    await box.client.exec(
        f"rm -f /tmp/impostor.ready; setsid python3 impostor.py {mode} >/tmp/impostor.log 2>&1 </dev/null &"
    )
    deadline = time.monotonic() + 30
    probe = "test -s /tmp/impostor.ready && echo ready"
    while "ready" not in await asyncio.to_thread(docker_sh, docker_client, box, probe):
        assert time.monotonic() < deadline, docker_sh(docker_client, box, "cat /tmp/impostor.log")
        await asyncio.sleep(0.1)


def impostor_requests(docker_client: Any, box: DockerSandbox) -> int:
    out = docker_sh(docker_client, box, "cat /tmp/impostor.requests 2>/dev/null || echo 0").strip()
    return int(out or 0)
