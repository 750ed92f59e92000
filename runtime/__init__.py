"""Hangar: a self-hosted runtime for managed AI agents.

Importing this package does no I/O and pulls in no heavy dependency; each layer is a subpackage.
"""

__version__ = "0.1.0"
