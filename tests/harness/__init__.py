"""Test helpers shared by every tier (``tests/integration``, ``tests/security``, ``tests/bench``).

Importable as ``harness`` from any test or conftest: pytest's default rootdir/prepend import mode
puts ``tests/`` on ``sys.path`` when it loads ``tests/conftest.py`` (``tests/`` has no
``__init__.py``), which it does first for every test under ``tests/``. The folder-local harnesses
(``api_harness``, ``cli_harness``, ``files_harness``, …) build on these and keep their names, so
their importers need no change.
"""
