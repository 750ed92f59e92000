"""A real Hangar server with small file limits (uvicorn on loopback, a thread of the test, the model
scripted), and the real ``hangar`` CLI in a subprocess: what the attacks in this folder run against."""

from __future__ import annotations

import io
import tarfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from google import genai
from google.genai import types
from harness.cli import hangar_cli
from harness.script import Script

__all__ = ["FilesServer", "Script", "hangar_cli", "member", "tar_bytes", "wait_done"]

DEV_KEY = "hk_security_files_key"
MiB = 1024 * 1024
MAX_EXTRACT_BYTES = 4 * MiB
MAX_EXTRACT_ENTRIES = 2000
QUOTA_BYTES = 6 * MiB
QUOTA_ENTRIES = 5000


@dataclass
class FilesServer:
    url: str
    script: Script
    _clients: list[genai.Client] = field(default_factory=list)

    def client(self) -> genai.Client:
        """One client for the session (a dropped client closes its connections)."""
        if not self._clients:
            options = types.HttpOptions(base_url=self.url)
            self._clients.append(genai.Client(api_key=DEV_KEY, http_options=options))
        return self._clients[0]

    def environments(self) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return self.client().environments


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes | None], gz: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def wait_done(client: genai.Client, interaction_id: str, limit_s: float = 120) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status != "in_progress" or time.monotonic() > deadline:
            return interaction
        time.sleep(0.2)
