"""The base of upload session URLs: the configured public URL, else the listening address."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from runtime.config import Settings


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "http://127.0.0.1:8080"),
        ({"host": "0.0.0.0", "port": 9000, "path_prefix": "/hangar"}, "http://127.0.0.1:9000/hangar"),
        ({"host": "::"}, "http://[::1]:8080"),
        ({"public_url": "https://hangar.example.com/h/"}, "https://hangar.example.com/h"),
    ],
)
def test_resolved_public_url(settings: dict[str, object], expected: str) -> None:
    assert Settings.model_validate(settings).resolved_public_url == expected


@pytest.mark.parametrize("bad", ["hangar.example.com", "ftp://x", "http://x/?q=1", "http://"])
def test_a_public_url_must_be_an_http_base(bad: str) -> None:
    with pytest.raises(ValidationError, match="public_url"):
        Settings(public_url=bad)
