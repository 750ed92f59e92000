"""``python -m runtime.cli`` runs the ``hangar`` command."""

from runtime.cli import main

main()
