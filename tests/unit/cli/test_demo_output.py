"""Where ``hangar demo`` puts the run's files: the folder given, else a new temporary one."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.cli.demo import output_folder
from runtime.errors import InputError


def test_given_folder_is_created(tmp_path: Path) -> None:
    assert output_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir()


def test_default_is_a_fresh_temporary_folder_not_the_cwd() -> None:
    first, second = output_folder(None), output_folder(None)
    try:
        assert first != second and first.name.startswith("hangar-demo-")
        assert first.is_dir() and not any(first.iterdir())
        assert Path.cwd() not in first.parents
    finally:
        first.rmdir()
        second.rmdir()


def test_a_file_in_the_way_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="--out"):
        output_folder(tmp_path / "f")
