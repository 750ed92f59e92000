"""Two ``hangar sandbox run --network allowlist`` processes at once, in one namespace: both work,
they share the namespace's proxy, each box keeps its own allowlist, and the last one out removes
the proxy."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from runtime.sandbox.reaper import list_owned

pytestmark = pytest.mark.docker

# Each box asks, twice with a pause between (so the two runs overlap), for the other's domain and
# prints what the proxy said; a working proxy path refuses it and names this box's own allowlist.
PROBE = (
    "for i in 1 2; do curl -sS --max-time 10 http://{other}/ | grep -o 'Allowed domains.*'; sleep 2; done"
)


def _start(env: dict[str, str], mine: str, other: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "runtime.cli", "sandbox", "run", "--network", "allowlist",
               "--allow", mine, "--", "sh", "-c", PROBE.format(other=other)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_concurrent_allowlist_oneoffs_share_the_proxy(sandbox_image: str, docker_client: Any) -> None:
    namespace = f"tone-{os.getpid() % 100000}"
    with tempfile.TemporaryDirectory(prefix="hone-") as data_dir:
        env = {**os.environ, "HANGAR_DATA_DIR": data_dir, "HANGAR_SANDBOX_NAMESPACE": namespace,
               "HANGAR_SANDBOX_IMAGE": sandbox_image}
        since = int(time.time()) - 1
        runs = [_start(env, "one.test", "two.test"), _start(env, "two.test", "one.test")]
        results = [run.communicate(timeout=180) for run in runs]
        until = int(time.time()) + 1
        for run, (out, err), mine in zip(runs, results, ("one.test", "two.test"), strict=True):
            assert run.returncode == 0, err
            assert out.splitlines() == [f"Allowed domains for this sandbox: {mine}"] * 2, (out, err)
        cli_namespace = f"{namespace}-cli"
        sockets = Path(data_dir) / "sandbox" / "sockets" / cli_namespace
        assert not list_owned(docker_client, cli_namespace, sockets)
        assert not docker_client.api.networks(names=[f"hangar-egress-{cli_namespace}"])
        # One proxy served both: the second process adopted the first one's.
        proxy = f"hangar-egress-proxy-{cli_namespace}"
        events = docker_client.api.events(since=since, until=until, decode=True,
                                       filters={"type": "container", "event": "create", "container": proxy})
        assert len(list(events)) == 1
