"""Sandboxes: hardened containers driven through sandboxd.

``base`` holds the interfaces and the spec, ``client`` the host-side client of sandboxd,
``docker`` the Docker provider (``docker_box`` its sandbox handle, ``docker_config``, ``watchdog``,
``socket_dirs``), ``pool`` the warm pool, ``pooled`` the provider with warm paths (pool and kept
boxes) and ``reaper`` the orphan cleanup.
``get_provider`` is the only place that picks a backend.
"""
