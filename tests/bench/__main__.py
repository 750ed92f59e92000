"""``python -m tests.bench``: run every ``bench_*.py`` module of this folder (``--quick`` for a smoke run)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path


def main() -> None:
    for module in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])):
        if module.startswith("bench_"):
            importlib.import_module(f"tests.bench.{module}").main()


if __name__ == "__main__":
    main()
