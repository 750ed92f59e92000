"""``hangar sandbox`` end to end, as a user runs it (a subprocess, piped standard input)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.cli.common import EXIT_INFRA
from runtime.sandbox.reaper import list_owned

pytestmark = pytest.mark.docker


@pytest.fixture
def cli_env(namespace: str, sandbox_image: str) -> Iterator[dict[str, str]]:
    # Short: the socket path under it must fit a unix socket address (pytest's tmp_path does not).
    with tempfile.TemporaryDirectory(prefix="hcli-") as data_dir:
        yield {
            **os.environ,
            "HANGAR_DATA_DIR": data_dir,
            "HANGAR_SANDBOX_NAMESPACE": namespace,  # one-off commands use f"{namespace}-cli"
            "HANGAR_SANDBOX_IMAGE": sandbox_image,
        }


def hangar(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "sandbox", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_run_streams_output_and_exits_with_the_command_code(
    cli_env: dict[str, str], docker_client: Any, namespace: str
) -> None:
    done = hangar(cli_env, "run", "--", "bash", "-c", "echo out; echo err >&2; exit 5")
    assert (done.returncode, done.stdout, done.stderr) == (5, "out\n", "err\n")
    sockets = Path(cli_env["HANGAR_DATA_DIR"]) / "sandbox" / "sockets" / f"{namespace}-cli"
    assert not list_owned(docker_client, f"{namespace}-cli", sockets)


def test_ls_and_rm(cli_env: dict[str, str], docker_client: Any, namespace: str, sandbox_image: str) -> None:
    labels = {"hangar.managed": "1", "hangar.namespace": f"{namespace}-cli"}
    labels["hangar.sandbox_id"] = "cli0cli0cli0"
    docker_client.containers.create(sandbox_image, entrypoint=["true"], labels=labels, network_mode="none")
    assert "cli0cli0cli0" in hangar(cli_env, "ls").stdout
    removed = hangar(cli_env, "rm", "--all")
    assert removed.returncode == 0 and removed.stdout.split() == ["cli0cli0cli0"]
    assert "cli0cli0cli0" not in hangar(cli_env, "ls").stdout


def test_shell_reads_piped_lines_in_one_session(cli_env: dict[str, str]) -> None:
    done = hangar(cli_env, "shell", stdin="cd /tmp\nexport A=7\npwd; echo $A\nexit\necho never\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["/tmp", "7"]


def test_errors_are_one_line_without_traceback(cli_env: dict[str, str]) -> None:
    done = hangar(cli_env, "run", "--image", "hangar-no-such-image:nope", "--", "true")
    assert done.returncode == EXIT_INFRA
    assert "image_missing" in done.stderr and "Traceback" not in done.stderr


def test_allowlist_options(cli_env: dict[str, str]) -> None:
    """An allowlist box starts (with the egress proxy) and is told where it is; bad domains and
    --allow without an allowlist are usage errors."""
    ok = hangar(
        cli_env,
        "run",
        "--network",
        "allowlist",
        "--allow",
        "pypi.org",
        "--",
        "sh",
        "-c",
        "echo $HTTPS_PROXY",
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("http://")
    bad = hangar(cli_env, "run", "--network", "allowlist", "--allow", "not a domain", "--", "true")
    assert bad.returncode == 2 and "invalid domain pattern" in bad.stderr
    stray = hangar(cli_env, "run", "--allow", "pypi.org", "--", "true")
    assert stray.returncode == 2 and "allowlist" in stray.stderr
