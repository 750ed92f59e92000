"""Model clients behind one Protocol: Gemini through google-genai, and scripted doubles.

- :mod:`.base`: ``ModelClient``, ``ModelRequest``, ``ModelTurn`` and its parts, ``Usage``.
- :mod:`.gemini`: ``GeminiClient`` (API key or Vertex AI), ``check_credentials``.
- :mod:`.retry`: ``RetryPolicy`` and the mapping of API errors to ``ModelError``.
- :mod:`.script`, :mod:`.fake_server`, :mod:`.scripted`: scripted turns, ``FakeGemini`` (HTTP) and
  ``ScriptedModel`` (in-process).
"""

from runtime.llm.base import (
    DeltaCallback,
    FunctionCallPart,
    GenerationSettings,
    ModelClient,
    ModelRequest,
    ModelTools,
    ModelTurn,
    ModelTurnDelta,
    OtherPart,
    TextPart,
    ThinkingSettings,
    ThoughtPart,
    TurnPart,
    Usage,
)
from runtime.llm.gemini import Credentials, GeminiClient, check_credentials
from runtime.llm.retry import RetryPolicy
from runtime.llm.script import (
    ScriptedCall,
    ScriptedTurn,
    ScriptedUsage,
    call,
    fail,
    forever,
    load_script,
    turn,
)
from runtime.llm.scripted import ScriptedModel

__all__ = [
    "Credentials",
    "DeltaCallback",
    "FunctionCallPart",
    "GeminiClient",
    "GenerationSettings",
    "ModelClient",
    "ModelRequest",
    "ModelTools",
    "ModelTurn",
    "ModelTurnDelta",
    "OtherPart",
    "RetryPolicy",
    "ScriptedCall",
    "ScriptedModel",
    "ScriptedTurn",
    "ScriptedUsage",
    "TextPart",
    "ThinkingSettings",
    "ThoughtPart",
    "TurnPart",
    "Usage",
    "call",
    "check_credentials",
    "fail",
    "forever",
    "load_script",
    "turn",
]
