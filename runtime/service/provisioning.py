"""Placing an environment's sources in its workspace volume.

Inline sources are written through a file box (sandboxd confines every path to the workspace).
A repository is cloned *inside a sandbox*, never on the host: a short-lived provisioning box whose
``/workspace`` is the environment's volume and whose egress allowlist is exactly the repository's
host (through the egress proxy, with its private-address guard), so a source URL reaches nothing
that a box with that allowlist could not reach anyway. The clone lands in a temporary folder of the
workspace and replaces the target once complete.

A fork (``from_environment``, an agent ``base_environment`` given as an environment id) copies one
volume into another in a box without network that mounts the source read-only.
Clone and fork boxes count against the project's live box limit like file boxes (admitted first).

Each source is placed once per environment: its digest is remembered on the environment, so the
sources of an agent's ``base_environment`` are in the workspace of every run without overwriting
what earlier turns did to them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence

import structlog

from runtime.agents.wire import Source
from runtime.errors import InfraError, InputError
from runtime.sandbox.base import Mount, Provider, SandboxSpec
from runtime.service.environment_config import Repository, inline_bytes, repository
from runtime.service.file_boxes import FileBoxes

log = structlog.get_logger(__name__)

REPOSITORY_MAX_BYTES = 500 * 1024 * 1024
CLONE_TIMEOUT_S = 600.0
FORK_MOUNT = "/mnt/fork-source"
# $1 url, $2 ref (may be empty), $3 target, $4 temporary folder, $5 size limit in bytes.
_CLONE = r"""
set -eu
url=$1 ref=$2 target=$3 tmp=$4 limit=$5
git() { command git -c protocol.allow=never -c protocol.http.allow=always -c protocol.https.allow=always \
  -c core.hooksPath=/dev/null -c credential.helper= "$@"; }
trap 'rm -rf -- "$tmp"' EXIT
if [ -n "$ref" ] && printf %s "$ref" | grep -Eq '^[0-9a-f]{7,40}$'; then
  git clone --quiet --no-checkout -- "$url" "$tmp"
  git -C "$tmp" checkout --quiet --detach "$ref"
elif [ -n "$ref" ]; then
  git clone --quiet --single-branch --branch "$ref" -- "$url" "$tmp"
else
  git clone --quiet --single-branch -- "$url" "$tmp"
fi
size=$(du -sb -- "$tmp" | cut -f1)
if [ "$size" -gt "$limit" ]; then echo "the repository is larger than $limit bytes" >&2; exit 3; fi
mkdir -p -- "$(dirname -- "$target")"
rm -rf -- "$target"
mv -- "$tmp" "$target"
"""


def digest(source: Source) -> str:
    """A stable digest of a source (what it is and where it goes)."""
    canonical = json.dumps(source.model_dump(mode="json", exclude_none=True), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


class Provisioner:
    """Places sources in workspace volumes (see the module docstring)."""

    def __init__(self, boxes: FileBoxes, provider: Provider | None, base_spec: SandboxSpec) -> None:
        self._boxes = boxes
        self._provider = provider
        self._spec = base_spec.model_copy(
            update={"cpus": 1.0, "memory_mb": 1024, "lifetime_s": CLONE_TIMEOUT_S * 2}
        )

    async def place(self, volume: str, sources: Sequence[Source], where: str = "sources") -> None:
        """Place ``sources`` (already checked) in ``volume``. Raises :class:`InputError` when a
        repository cannot be cloned, :class:`InfraError` when sandboxes are unavailable."""
        inline = [(s.target or "", inline_bytes(s, f"{where}[{i}]")) for i, s in enumerate(sources)
                  if (s.type or "inline") == "inline"]
        if inline:
            async with self._boxes.open(volume) as box:
                for target, data in inline:
                    await box.client.write_file(target, data)
        for i, source in enumerate(sources):
            if source.type == "repository":
                at = f"{where}[{i}]"
                await self._clone(volume, repository(source, at), source.target or "", at)

    async def fork(self, source_volume: str, volume: str) -> bool:
        """Copy the workspace in ``source_volume`` into ``volume``, in a box without network that
        mounts the source read-only; ``False`` when the source has no volume yet (nothing to copy).
        Raises :class:`InfraError` when the copy fails."""
        if self._provider is None:
            raise InfraError("forking an environment needs sandboxes, which are off or unavailable here",
                             code="sandboxes_unavailable", retryable=False)
        if not await self._provider.volume_exists(source_volume):
            return False  # never used: nothing to copy (and mounting it would create it)
        source = Mount(source=source_volume, target=FORK_MOUNT, type="volume", read_only=True)
        spec = self._spec.model_copy(
            update={"network": "none", "workspace_volume": volume, "mounts": (*self._spec.mounts, source)}
        )
        async with self._boxes.working(volume), await self._provider.create(spec) as box:
            result = await box.client.exec(
                ["cp", "-a", "--", f"{FORK_MOUNT}/.", "/workspace/"], timeout_s=CLONE_TIMEOUT_S,
                max_output_bytes=64 * 1024,
            )
        if result.exit_code != 0:
            reason = (result.stderr.strip().splitlines() or ["cp failed"])[-1][:300]
            raise InfraError(f"could not copy the environment: {reason}", retryable=False)
        return True

    async def _clone(self, volume: str, repo: Repository, target: str, at: str) -> None:
        if self._provider is None:
            raise InfraError("repository sources need sandboxes, which are off or unavailable on this server",
                             code="sandboxes_unavailable", retryable=False)
        spec = self._spec.model_copy(
            update={"network": "allowlist", "allowed_domains": (repo.host,), "workspace_volume": volume}
        )
        spec = SandboxSpec.model_validate(spec.model_dump())  # normalizes the allowlist
        tmp = f".hangar-clone-{secrets.token_hex(4)}"
        argv = ["bash", "-c", _CLONE, "clone", repo.url, repo.ref or "", target, tmp,
                str(REPOSITORY_MAX_BYTES)]
        async with self._boxes.working(volume), await self._provider.create(spec) as box:
            result = await box.client.exec(
                argv, env={"GIT_TERMINAL_PROMPT": "0"}, timeout_s=CLONE_TIMEOUT_S, max_output_bytes=64 * 1024
            )
        if result.exit_code != 0:
            reason = (result.stderr.strip().splitlines() or ["git failed"])[-1][:300]
            log.info("repository_clone_failed", url=repo.url, reason=reason)
            raise InputError(f"{at}.source: could not clone {repo.url}: {reason}")
        log.info("repository_cloned", url=repo.url, ref=repo.ref, target=target)
