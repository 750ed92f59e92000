"""The ``hangar`` entry point ends with one line and exit code 2 for refused settings (a removed or
unknown ``HANGAR_*`` name, a bad value), whatever the command; values are never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.cli import main


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    monkeypatch.setattr("sys.argv", ["hangar", *args])
    with pytest.raises(SystemExit) as ended:
        main()
    code = ended.value.code
    return (code if isinstance(code, int) else -1), capsys.readouterr().err


@pytest.mark.parametrize("command", [["serve"], ["keys", "list"], ["gc", "--dry-run"]])
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HANGAR_WEBHOOK_SIGNING_SECRET", "whsec_hunter2", "HANGAR_WEBHOOK_SIGNING_SECRET was removed"),
        ("HANGAR_KEEP_WARM_SECOND", "hunter2", "did you mean HANGAR_KEEP_WARM_SECONDS?"),
        ("HANGAR_PORT", "hunter2", "HANGAR_PORT: Input should be a valid integer"),
    ],
)
def test_refused_settings_end_any_command_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    command: list[str], variable: str, value: str, expected: str,
) -> None:
    monkeypatch.setenv("HANGAR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(variable, value)
    code, err = run_main(monkeypatch, capsys, *command)
    assert code == 2
    assert err.startswith("error (invalid_setting): ") and expected in err
    assert err.count("\n") == 1 and "Traceback" not in err and "hunter2" not in err
    assert not (tmp_path / "hangar.db").exists()
