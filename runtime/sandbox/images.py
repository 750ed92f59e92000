"""Build the sandbox image, versioned by the content that builds it.

The build context is assembled from ``sandbox_images/<name>/`` plus the parts of ``runtime`` that
run inside the box (``runtime/__init__.py``, ``runtime/errors.py``, ``runtime/sandboxd/``). Its
SHA-256 becomes the image label ``hangar.content-hash`` and the tag ``hangar-sandbox:<hash12>``;
``hangar-sandbox:latest`` points at the newest build. An image whose label matches is fresh and is
never rebuilt. A build removes older hash tags only when no container uses them and they are not
among the newest few (:func:`remove_stale_tags`): checkouts sharing an engine keep their images.
"""

from __future__ import annotations

import configparser
import hashlib
import io
import os
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.errors import EngineUnavailable, InfraError, InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES_DIR = REPO_ROOT / "sandbox_images"
RUNTIME_DIR = REPO_ROOT / "runtime"
IMAGE_REPO = "hangar-sandbox"
HASH_LABEL = "hangar.content-hash"
BASE_IMAGE = "debian:bookworm-slim"


@dataclass(frozen=True)
class BuildContext:
    files: dict[str, bytes]
    """Archive name -> content, in a stable order."""
    content_hash: str

    @property
    def tag(self) -> str:
        return f"{IMAGE_REPO}:{self.content_hash[:12]}"


def extra_ca_path() -> Path | None:
    """The CA bundle to trust inside the image, when the host needs one to reach package registries.

    ``HANGAR_EXTRA_CA`` wins (empty disables); otherwise pip's own setting (``PIP_CERT`` or
    ``cert`` in ``/etc/pip.conf``), which is what a TLS-inspecting proxy requires.
    """
    explicit = os.environ.get("HANGAR_EXTRA_CA")
    if explicit is not None:
        return Path(explicit) if explicit else None
    if os.environ.get("PIP_CERT"):
        return Path(os.environ["PIP_CERT"])
    parser = configparser.ConfigParser()
    parser.read(["/etc/pip.conf", os.path.expanduser("~/.config/pip/pip.conf")])
    cert = parser.get("global", "cert", fallback=None)
    return Path(cert) if cert else None


def _runtime_files() -> Iterator[tuple[str, Path]]:
    yield "runtime/__init__.py", RUNTIME_DIR / "__init__.py"
    yield "runtime/errors.py", RUNTIME_DIR / "errors.py"
    for path in sorted((RUNTIME_DIR / "sandboxd").rglob("*.py")):
        yield f"runtime/sandboxd/{path.relative_to(RUNTIME_DIR / 'sandboxd').as_posix()}", path


def build_context(name: str = "default") -> BuildContext:
    image_dir = IMAGES_DIR / name
    if not (image_dir / "Dockerfile").is_file():
        raise InputError(f"no sandbox image named {name!r} (expected {image_dir}/Dockerfile)")
    files: dict[str, bytes] = {}
    for path in sorted(p for p in image_dir.rglob("*") if p.is_file()):
        files[path.relative_to(image_dir).as_posix()] = path.read_bytes()
    for arcname, path in _runtime_files():
        files[arcname] = path.read_bytes()
    ca = extra_ca_path()
    files["extra-ca.pem"] = ca.read_bytes() if ca and ca.is_file() else b""
    digest = hashlib.sha256()
    for arcname, data in sorted(files.items()):
        digest.update(arcname.encode() + b"\0" + hashlib.sha256(data).digest())
    return BuildContext(files=files, content_hash=digest.hexdigest())


def _tar(ctx: BuildContext) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for arcname, data in sorted(ctx.files.items()):
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def image_is_fresh(client: Any, ctx: BuildContext) -> bool:
    import docker.errors

    try:
        image = client.images.get(ctx.tag)
    except docker.errors.ImageNotFound:
        return False
    labels = image.labels or {}
    return bool(labels.get(HASH_LABEL) == ctx.content_hash)


def ensure_image(
    client: Any, name: str = "default", *, force: bool = False, log: Callable[[str], None] = print
) -> str:
    """Build the image unless a fresh one exists; returns its hash tag. Also tags ``:latest``."""
    import docker.errors

    ctx = build_context(name)
    if not force and image_is_fresh(client, ctx):
        client.images.get(ctx.tag).tag(IMAGE_REPO, "latest")
        log(f"{ctx.tag} is up to date")
        return ctx.tag
    log(f"building {ctx.tag} (this takes a few minutes the first time)")
    try:
        stream = client.api.build(
            fileobj=_tar(ctx), custom_context=True, tag=ctx.tag, rm=True, decode=True,
            labels={HASH_LABEL: ctx.content_hash}, buildargs={"BASE_IMAGE": BASE_IMAGE},
        )
        for chunk in stream:
            if "error" in chunk:
                raise InfraError(f"image build failed: {chunk['error'].strip()}", retryable=False)
            line = str(chunk.get("stream", "")).rstrip()
            if line.startswith("Step "):
                log(line)
    except docker.errors.APIError as e:
        raise EngineUnavailable(f"Docker engine refused the build: {e}") from e
    client.images.get(ctx.tag).tag(IMAGE_REPO, "latest")
    log(f"built {ctx.tag}")
    remove_stale_tags(client, keep=ctx.tag, log=log)
    return ctx.tag


KEEP_NEWEST = 5
"""Content-hash images kept besides the one just built, newest first, even when no container uses
them: parallel checkouts and CI jobs sharing one engine each build their own tree's tag and start
boxes from it between one container and the next."""


def remove_stale_tags(
    client: Any,
    *,
    keep: str,
    log: Callable[[str], None],
    repo: str = IMAGE_REPO,
    keep_newest: int = KEEP_NEWEST,
) -> list[str]:
    """Untags older content-hash images of ``repo`` (each rebuild leaves one) and returns the tags
    removed. Kept: ``keep``, ``:latest``, tags that are no content hash, the ``keep_newest`` newest
    other images, and every image a container uses, running or stopped (another tree's test may
    be running from it). Raises nothing: a tag the engine refuses to remove stays."""
    import docker.errors

    content_tag = re.compile(rf"{re.escape(repo)}:[0-9a-f]{{12}}")
    in_use = {str(c.get("ImageID", "")) for c in client.api.containers(all=True)}
    stale = []
    for image in client.images.list(name=repo):
        tags = [tag for tag in image.tags if content_tag.fullmatch(tag) and tag != keep]
        if tags and keep not in image.tags:
            stale.append((_created(image.attrs.get("Created", "")), image.id, tags))
    stale.sort(reverse=True)
    removed: list[str] = []
    for _, image_id, tags in stale[max(keep_newest, 0):]:
        if image_id in in_use:
            continue
        for tag in tags:
            try:
                client.images.remove(tag)
            except docker.errors.APIError:
                continue  # a container appeared since, or another build removed it first
            removed.append(tag)
            log(f"removed stale {tag}")
    return removed


def _created(text: str) -> tuple[str, str]:
    """A sort key for the engine's ``Created`` (RFC 3339, UTC, a fraction of varying length)."""
    base, _, fraction = str(text).removesuffix("Z").partition(".")
    return base, fraction.ljust(9, "0")
