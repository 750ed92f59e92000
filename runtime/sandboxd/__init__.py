"""sandboxd: the daemon that runs inside every sandbox.

It serves HTTP on a unix socket in a directory bind-mounted from the host; every request carries
the per-sandbox token. ``protocol`` holds the request/response models shared with the host-side
client (``runtime.sandbox.client``). This package is copied into the sandbox image together with
``runtime/__init__.py`` and ``runtime/errors.py``; it must import nothing else from ``runtime``.
"""
