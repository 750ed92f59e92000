"""Host-side writes of produced files (``hangar run --output-dir``, ``--server`` downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.cli.run_output import refused_note, write_file_below
from runtime.errors import PathOutsideWorkspace


def test_write_file_below_refuses_escapes_and_links(tmp_path: Path) -> None:
    root = tmp_path / "files"
    assert write_file_below(root, "a/b.txt", b"ok").read_bytes() == b"ok"
    for bad in ("../x", "a/../../x", ""):
        with pytest.raises(PathOutsideWorkspace):
            write_file_below(root, bad, b"x")
    (root / "up").symlink_to(tmp_path)
    with pytest.raises(PathOutsideWorkspace, match="symbolic link"):
        write_file_below(root, "up/escaped.txt", b"x")
    assert not (tmp_path / "escaped.txt").exists()
    victim = tmp_path / "victim.txt"
    victim.write_text("host")
    (root / "final").symlink_to(victim)
    write_file_below(root, "final", b"replaced the link")
    assert victim.read_text() == "host"
    assert not (root / "final").is_symlink()


def test_refused_note_names_what_was_not_written() -> None:
    assert refused_note([]) is None
    note = refused_note([f"f{i}" for i in range(12)])
    assert note is not None and note.startswith("not written: f0; f1") and note.endswith("and 2 more")
