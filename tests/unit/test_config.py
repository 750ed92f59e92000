from __future__ import annotations

from runtime.config import Settings
from runtime.sandbox.docker import DockerProviderConfig


def test_one_off_commands_keep_their_boxes_apart_from_the_server() -> None:
    settings = Settings(sandbox_namespace="prod")
    assert settings.cli_sandbox_namespace == "prod-cli"
    longest = Settings(sandbox_namespace="n" * 32).cli_sandbox_namespace
    DockerProviderConfig(state_dir="/tmp", namespace=longest)  # still a valid namespace
