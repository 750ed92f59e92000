"""Sandboxes: hardened containers driven through sandboxd.

``base`` holds the interfaces and the spec, ``client`` the host-side client of sandboxd,
``docker`` the Docker provider, ``pool`` the warm pool and ``reaper`` the orphan cleanup.
``get_provider`` is the only place that picks a backend.
"""
