"""Attack: make the workspace's files run in place of sandboxd (or inside the kernel's start-up).

The agent (code in a box) plants Python start-up hooks and shadow modules in ``/workspace`` and in
its home's user site; the next box on that volume must start the real sandboxd, and its Python
session kernel must start clean, with none of the planted code ever run.
"""

from __future__ import annotations

import os
import shlex

import pytest
from daemon_attacks import HIJACKS, MARKERS, marker_code

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.docker import DockerProvider

pytestmark = pytest.mark.docker

USER_SITE = "/home/agent/.local/lib/python3.11/site-packages"


def _plant_script(files: dict[str, str], root: str) -> str:
    """A shell script that writes ``files`` under ``root`` from inside the box (as the agent)."""
    lines = []
    for path, content in files.items():
        target = f"{root}/{path}"
        lines.append(f"mkdir -p {shlex.quote(target.rsplit('/', 1)[0])}")
        lines.append(f"printf %s {shlex.quote(content)} > {shlex.quote(target)}")
    return "\n".join(lines)


async def test_files_planted_from_inside_a_box_never_run_in_the_next_box(
    provider: DockerProvider, spec: SandboxSpec, volume: str
) -> None:
    on_volume = spec.model_copy(update={"workspace_volume": volume})
    first = await provider.create(on_volume)
    try:
        planted = await first.client.exec(_plant_script(HIJACKS, "/workspace"))
        assert planted.exit_code == 0, planted.stderr
        # Control: the planted files are live hijacks for a Python that trusts the workspace.
        control = await first.client.exec(
            "export HIJACK_MARKERS=/tmp/control; cd /workspace"
            " && python3 -c 'import json, runtime.sandboxd.__main__'"
            " && PYTHONPATH=/workspace python3 -c pass"
            " && python3 -c 'import site; site.addsitedir(\"/workspace\")'"
            " && ls /tmp/control"
        )
        assert control.exit_code == 0, control.stderr
        assert set(control.stdout.split()) >= {"json", "runtime", "runtime.sandboxd", "sitecustomize", "pth"}
    finally:
        await first.stop()

    second = await provider.create(on_volume)
    try:
        assert (await second.client.health()).status == "ok"
        # The Python session kernel starts in the same box: it must not run them either, and the
        # agent's own code in it still imports workspace modules (after the kernel's imports).
        await second.client.write_file("mymod.py", "VALUE = 42\n")
        cell = await second.client.python("import mymod, sys\nprint(mymod.VALUE, sys.flags.isolated)")
        assert cell.error is None, cell.error
        assert cell.stdout.split() == ["42", "1"]
        ran = await second.client.exec(f"ls -A {MARKERS} 2>/dev/null; echo end")
        assert ran.stdout.split() == ["end"], f"planted code ran: {ran.stdout}"
        daemon = await second.client.exec("ps -eo args | grep '^/opt/venv/bin/python .*runtime[.]sandboxd'")
        assert "-I" in daemon.stdout.split(), daemon.stdout
        # The host sees sandboxd's process (the listener its connections are pinned to).
        pid = second.socket.backend.peer_pid
        cwd = os.readlink(f"/proc/{pid}/cwd")
        assert cwd == "/opt/hangar", f"sandboxd must not run from the workspace (it runs in {cwd})"
    finally:
        await second.stop()


async def test_user_site_hooks_in_home_never_run_in_the_kernel(
    provider: DockerProvider, spec: SandboxSpec
) -> None:
    """Home is writable scratch: a ``usercustomize`` or ``.pth`` there must not reach the kernel."""
    box = await provider.create(spec)
    try:
        hooks = {"usercustomize.py": marker_code("home-usercustomize"), "home.pth": marker_code("home-pth")}
        planted = await box.client.exec(_plant_script(hooks, USER_SITE))
        assert planted.exit_code == 0, planted.stderr
        control = await box.client.exec("HIJACK_MARKERS=/tmp/control python3 -c 'import site; "
                                        f"site.addsitedir(\"{USER_SITE}\")' && ls /tmp/control")
        assert "home-pth" in control.stdout, control.stderr
        cell = await box.client.python("import sys; print(sys.flags.no_user_site)")
        assert cell.error is None and cell.stdout.strip() == "1", cell
        ran = await box.client.exec(f"ls -A {MARKERS} 2>/dev/null; echo end")
        assert ran.stdout.split() == ["end"], f"planted code ran: {ran.stdout}"
    finally:
        await box.stop()
