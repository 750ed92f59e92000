"""The Hangar server handle and the fake model's script, shared by the API integration tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from google import genai
from google.genai import types

from runtime.llm.script import JsonDict, ScriptedTurn

DEV_KEY = "hk_test_dev_key"


@dataclass
class Script:
    """The fake model's next answers; tests push turns and read the requests it received."""

    turns: list[ScriptedTurn] = field(default_factory=list)
    requests: list[JsonDict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    paths: list[str] = field(default_factory=list)
    """URL paths of the fake model's calls (``/v1beta/models/{model}:...``), set by the server fixture."""

    def set(self, *turns: ScriptedTurn) -> None:
        with self.lock:
            self.turns = list(turns)
            self.requests.clear()

    def respond(self, request: JsonDict) -> ScriptedTurn:
        with self.lock:
            self.requests.append(request)
            if not self.turns:
                raise AssertionError("the fake model got an unexpected call")
            return self.turns.pop(0)


@dataclass
class HangarServer:
    url: str
    dev_key: str
    other_key: str
    script: Script

    def client(self, key: str | None = None, api_version: str | None = None) -> genai.Client:
        options = types.HttpOptions(base_url=self.url, api_version=api_version)
        return genai.Client(api_key=key or self.dev_key, http_options=options)
