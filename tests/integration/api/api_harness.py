"""The Hangar server handle and the fake model's script, shared by the API integration tests."""

from __future__ import annotations

from dataclasses import dataclass

from google import genai
from google.genai import types
from harness.script import Script

__all__ = ["DEV_KEY", "HangarServer", "Script"]

DEV_KEY = "hk_test_dev_key"


@dataclass
class HangarServer:
    url: str
    dev_key: str
    other_key: str
    script: Script

    def client(self, key: str | None = None, api_version: str | None = None) -> genai.Client:
        options = types.HttpOptions(base_url=self.url, api_version=api_version)
        return genai.Client(api_key=key or self.dev_key, http_options=options)
