"""How much disk a workspace uses: allocated bytes and entries, never following links.

Standard library only, and runnable as a script, because it runs in two places: in sandboxd (the
API's upload quota) and as ``python3 -I .../usage.py /w`` in a throwaway container the host starts
with the volume mounted read-only (the quota of a running box: the box cannot lie to that one).
The walk stops early once a bound is passed, so a hostile tree costs at most that much work.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass


@dataclass
class Usage:
    bytes: int = 0
    """Allocated bytes (``st_blocks`` × 512): sparse files count for what they occupy."""
    entries: int = 0
    complete: bool = True
    """``False`` when the walk stopped at a bound (the true figures are larger) or could not
    enter a directory."""


def measure(root: str, *, stop_bytes: int | None = None, stop_entries: int | None = None) -> Usage:
    """Usage of the tree at ``root`` (the root itself not counted), on its own filesystem only."""
    usage = Usage()
    try:
        device = os.lstat(root).st_dev
    except OSError:
        return Usage(complete=False)
    stack = [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    if _add(entry, usage, device, stack) and _past(usage, stop_bytes, stop_entries):
                        usage.complete = False
                        return usage
        except OSError:
            usage.complete = False
    return usage


def _add(entry: os.DirEntry[str], usage: Usage, device: int, stack: list[str]) -> bool:
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    usage.entries += 1
    usage.bytes += st.st_blocks * 512
    if entry.is_dir(follow_symlinks=False) and st.st_dev == device:
        stack.append(entry.path)
    return True


def _past(usage: Usage, stop_bytes: int | None, stop_entries: int | None) -> bool:
    over_bytes = stop_bytes is not None and usage.bytes > stop_bytes
    over_entries = stop_entries is not None and usage.entries > stop_entries
    return over_bytes or over_entries


def main(argv: list[str]) -> int:
    """``usage.py ROOT [STOP_BYTES STOP_ENTRIES]``: print the usage as one JSON line."""
    stops = [int(a) for a in argv[2:4]] + [None, None]
    print(json.dumps(asdict(measure(argv[1], stop_bytes=stops[0], stop_entries=stops[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
