"""Every Python the host starts in a box runs isolated from outside the workspace (the real boxes
are attacked in tests/security/daemon/; these pin the start-up lines themselves)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.egress import proxy_container_kwargs
from runtime.sandbox.local import LocalProvider, LocalSandbox

DOCKERFILE = Path(__file__).resolve().parents[3] / "sandbox_images" / "default" / "Dockerfile"


def test_the_image_starts_sandboxd_isolated_outside_the_workspace() -> None:
    text = DOCKERFILE.read_text()
    entrypoint = json.loads(re.findall(r"^ENTRYPOINT (.*)$", text, re.M)[-1])
    assert entrypoint[:2] == ["/opt/venv/bin/python", "-I"] and entrypoint[-2:] == ["-m", "runtime.sandboxd"]
    workdir = re.findall(r"^WORKDIR (.*)$", text, re.M)[-1].strip()
    assert not workdir.startswith("/workspace")
    assert not re.search(r"^ENV PYTHONPATH", text, re.M)


def test_the_egress_proxy_starts_isolated(tmp_path: Path) -> None:
    kw = proxy_container_kwargs(
        "img", namespace="ns", name="hangar-egress-proxy-ns", state_dir=tmp_path, network="n", runtime=None,
        init=False,
    )
    assert kw["entrypoint"][:2] == ["/opt/venv/bin/python", "-I"]


async def test_the_python_session_kernel_is_isolated_and_still_imports_workspace_modules() -> None:
    async with LocalProvider() as provider:
        box: LocalSandbox = await provider.create(SandboxSpec())
        try:
            await box.client.write_file("mymod.py", "VALUE = 7\n")
            code = (
                "import os, sys, mymod\n"
                f"print(sys.flags.isolated, mymod.VALUE, os.path.samefile(os.getcwd(), {box.workspace!r}))"
            )
            cell = await box.client.python(code)
            assert cell.error is None, cell.error
            assert cell.stdout.split() == ["1", "7", "True"]  # isolated, imports mymod, runs in the workspace
        finally:
            await box.stop()
