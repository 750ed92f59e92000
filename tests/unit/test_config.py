from __future__ import annotations

import pytest
from pydantic import ValidationError

from runtime.config import Settings
from runtime.sandbox.docker import DockerProviderConfig


def test_one_off_commands_keep_their_boxes_apart_from_the_server() -> None:
    settings = Settings(sandbox_namespace="prod")
    assert settings.cli_sandbox_namespace == "prod-cli"
    longest = Settings(sandbox_namespace="n" * 32).cli_sandbox_namespace
    DockerProviderConfig(state_dir="/tmp", namespace=longest)  # still a valid namespace


def test_outbound_allow_hosts_are_a_comma_separated_list_of_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANGAR_OUTBOUND_ALLOW_HOSTS", "hooks.internal, 127.0.0.1:9000,[::1]:8080")
    assert Settings().outbound_allow_hosts == ("hooks.internal", "127.0.0.1:9000", "[::1]:8080")
    for bad in ("http://hooks.internal", "hooks.internal/path", "a b", "127.0.0.1:port"):
        monkeypatch.setenv("HANGAR_OUTBOUND_ALLOW_HOSTS", bad)
        with pytest.raises(ValidationError, match="outbound_allow_hosts"):
            Settings()
