"""The fake model's script: what the scripted Gemini behind a test server answers next."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from runtime.llm.script import JsonDict, ScriptedTurn


@dataclass
class Script:
    """The fake model's next answers; tests push turns and read the requests it received. Thread
    safe: the server answers from its own thread."""

    turns: list[ScriptedTurn] = field(default_factory=list)
    requests: list[JsonDict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    paths: list[str] = field(default_factory=list)
    """URL paths of the fake model's calls (``/v1beta/models/{model}:...``), when the server
    fixture records them."""

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
