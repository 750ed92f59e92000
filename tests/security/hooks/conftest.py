"""The API tier's real Hangar server (uvicorn on loopback, fake Gemini, real Docker sandboxes),
loaded from tests/integration/api/conftest.py under another module name so its fixtures serve
these attack tests too."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_API = Path(__file__).resolve().parents[2] / "integration" / "api"
sys.path.insert(0, str(_API))  # its conftest imports api_harness
_spec = importlib.util.spec_from_file_location("hangar_api_fixtures", _API / "conftest.py")
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

hangar = _fixtures.hangar
