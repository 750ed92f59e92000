"""A throwaway PostgreSQL cluster on loopback for the store tests: Debian's server binaries
(installed with apt when missing and we are root), ``initdb`` into a temp dir, ``pg_ctl`` on a free
port, one database per test. Root cannot run the server, so it runs as the ``postgres`` user then.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

PG_ROOT = Path("/usr/lib/postgresql")


class Unavailable(Exception):
    """PostgreSQL cannot be installed or started here (the reason is the message)."""


def _bin_dir() -> Path:
    found = sorted(PG_ROOT.glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]
        done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:  # a stale package index: refresh once, then retry
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, check=False)
            subprocess.run(install, capture_output=True, env=env, check=False)
        found = sorted(PG_ROOT.glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise Unavailable("no PostgreSQL server binaries (apt-get install postgresql)")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{database}"

    async def create_database(self) -> str:
        name = "hangar_" + secrets.token_hex(6)
        conn = await asyncpg.connect(host=self.host, port=self.port, user=self.user, database="postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return name


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Start a cluster (fsync off, trust auth on loopback only); stop and delete it on exit."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="hangar-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*argv: str) -> None:
        done = subprocess.run([*as_user, *argv], capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise Unavailable(f"{Path(argv[0]).name} failed: {(done.stderr or done.stdout).strip()[-800:]}")

    try:
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "hangar", "-A", "trust", "--no-sync"]
        run(*initdb, "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {port} -k {root} -F -c max_connections=200"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        try:
            yield Cluster(host="127.0.0.1", port=port, user="hangar")
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
