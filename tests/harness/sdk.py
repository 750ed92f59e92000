"""The google-genai client's preview namespaces, without the warning each access raises (tests run
with warnings as errors)."""

from __future__ import annotations

import warnings
from typing import Any

from google import genai


def agents_of(client: genai.Client) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return client.agents


def environments_of(client: genai.Client) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return client.environments
