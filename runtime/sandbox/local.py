"""The ``local`` backend: sandboxd's app in-process over a temporary workspace.

No isolation at all (commands run as the host user, on the host): for fast tests of code that
drives a sandbox, never for untrusted code. ``httpx.ASGITransport`` buffers responses, so exec
output reaches ``on_output`` only when the command ends.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict

from runtime.errors import SandboxGone
from runtime.sandbox.base import Provider, Sandbox, SandboxInfo, SandboxSpec, SandboxState
from runtime.sandbox.client import SandboxdClient
from runtime.sandboxd.app import App, Config, create_app


class LocalProviderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["local"] = "local"


class LocalSandbox(Sandbox):
    def __init__(self, sandbox_id: str, spec: SandboxSpec, workspace: str) -> None:
        token = secrets.token_urlsafe(16)
        self.workspace = workspace
        self.app: App = create_app(Config(token=token, workspace=workspace))
        super().__init__(sandbox_id, spec, SandboxdClient(httpx.ASGITransport(app=self.app), token))
        self.created = time.strftime("%Y-%m-%d %H:%M:%S")

    async def pause(self) -> None:
        pass

    async def resume(self) -> None:
        pass

    async def stop(self) -> None:
        if self.state is SandboxState.STOPPED:
            return
        self.state = SandboxState.STOPPING
        await self.app.aclose()
        await self.client.aclose()
        await asyncio.to_thread(shutil.rmtree, self.workspace, True)
        self.state = SandboxState.STOPPED

    async def check_alive(self) -> None:
        if self.state is not SandboxState.READY:
            raise SandboxGone(f"local sandbox {self.id} is {self.state.value}")


class LocalProvider(Provider):
    name = "local"

    def __init__(self, config: LocalProviderConfig | None = None) -> None:
        self.config = config or LocalProviderConfig()
        self._boxes: dict[str, LocalSandbox] = {}

    async def create(self, spec: SandboxSpec) -> LocalSandbox:
        workspace = await asyncio.to_thread(tempfile.mkdtemp, prefix="hangar-local-")
        box = LocalSandbox(f"local-{secrets.token_hex(6)}", spec, workspace)
        self._boxes[box.id] = box
        return box

    async def list(self) -> list[SandboxInfo]:
        return [
            SandboxInfo(id=b.id, name=b.id, state=b.state.value, image="local", created=b.created,
                        spec_key=b.spec.key())
            for b in self._boxes.values()
        ]

    async def remove(self, sandbox_id: str) -> None:
        box = self._boxes.pop(sandbox_id, None)
        if box is not None:
            await box.stop()

    async def stop(self) -> None:
        for sandbox_id in list(self._boxes):
            await self.remove(sandbox_id)
