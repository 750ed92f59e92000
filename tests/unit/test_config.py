from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtime.config import (
    OTHER_HANGAR_VARIABLES,
    REMOVED_SETTINGS,
    Settings,
    SettingsError,
    check_environment,
)
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


def test_the_removed_webhook_signing_secret_is_refused_naming_its_replacement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANGAR_WEBHOOK_SIGNING_SECRET", "whsec_x")
    with pytest.raises(SettingsError, match="HANGAR_WEBHOOK_SIGNING_SECRET was removed") as refused:
        Settings()
    assert "HANGAR_WEBHOOK_JWT_KEY_FILE" in refused.value.message and "whsec_x" not in refused.value.message
    with pytest.raises(SettingsError):  # explicit values do not hide what the environment says
        Settings(data_dir=Path("/tmp"))


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        ("HANGAR_PROT", "did you mean HANGAR_PORT?"),
        ("hangar_sandbox_namespce", "did you mean HANGAR_SANDBOX_NAMESPACE?"),  # read case-insensitively
        ("HANGAR_GEMINI_API_KEY", "did you mean GEMINI_API_KEY?"),  # that one has no prefix
        ("HANGAR_ZZZ", "see the settings in runtime/config.py"),
    ],
)
def test_an_unknown_hangar_variable_is_refused_with_the_nearest_name(variable: str, hint: str) -> None:
    with pytest.raises(SettingsError) as refused:
        check_environment({variable: "1", "PATH": "/bin"})
    assert refused.value.message == f"{variable.upper()} is not a Hangar setting ({hint})"
    assert refused.value.code == "invalid_setting"


def test_settings_and_the_other_hangar_variables_pass() -> None:
    names = {f"HANGAR_{name.upper()}": "x" for name in Settings.model_fields if name != "gemini_api_key"}
    others = dict.fromkeys(OTHER_HANGAR_VARIABLES, "x") | {"GEMINI_API_KEY": "k", "OTHER": "y"}
    check_environment(names | others)


def test_every_problem_is_named_in_one_line() -> None:
    with pytest.raises(SettingsError) as refused:
        check_environment({"HANGAR_B": "1", "HANGAR_WEBHOOK_SIGNING_SECRET": "s", "HANGAR_A": "1"})
    message = refused.value.message
    assert "\n" not in message
    assert message.index("HANGAR_A ") < message.index("HANGAR_B ") < message.index("HANGAR_WEBHOOK_SIGNING")


REPO = Path(__file__).resolve().parents[2]
DOCUMENTED = ["README.md", "Makefile", "docs", ".ci", "runtime", "sandbox_images", "agents"]


def test_every_hangar_name_the_repository_mentions_is_accepted() -> None:
    """A name in the docs, the Makefile, CI or the code that start-up would refuse is a bug in one of them."""
    texts = []
    for entry in DOCUMENTED:
        path = REPO / entry
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        texts.extend(file.read_text(errors="ignore") for file in files if file.suffix != ".pyc")
    mentioned = set(re.findall(r"\bHANGAR_[A-Z0-9_]*[A-Z0-9]\b", "\n".join(texts)))
    mentioned -= set(REMOVED_SETTINGS) | {"HANGAR_PROT"}  # named to be refused (the README's misspelling)
    assert mentioned, "the scan found nothing"
    check_environment(dict.fromkeys(mentioned, "x"))
