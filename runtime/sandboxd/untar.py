"""Safe extraction of a tar stream (blocking; :func:`runtime.sandboxd.tarstream.extract_tar` runs it
in a thread). Every archive is hostile input: a tenant's upload in sandboxd, a box's files on the
host. Bounded before anything past a bound is written, confined to a root, and all or nothing for
what it creates."""

from __future__ import annotations

import os
import shutil
import tarfile
from dataclasses import dataclass, field
from typing import IO, Protocol

from runtime.errors import InputError, LimitExceeded, PathOutsideWorkspace

CHUNK = 256 * 1024
DEFAULT_MAX_BYTES = 1024**3
"""Bytes one archive may expand to when the caller names no bound."""
DEFAULT_MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class ExtractLimits:
    """Bounds on what one archive may put on disk; reached, extraction stops with
    :class:`LimitExceeded` naming ``*_setting`` (the knob that raises the bound)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_entries: int = DEFAULT_MAX_ENTRIES
    bytes_setting: str = "HANGAR_MAX_EXTRACT_BYTES"
    entries_setting: str = "HANGAR_MAX_EXTRACT_ENTRIES"


@dataclass
class ExtractResult:
    entries: int = 0
    bytes: int = 0
    skipped_links: list[str] = field(default_factory=list)
    """Symbolic links not created (host-side extraction creates none)."""


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


def extract_stream(
    source: Readable, dest: str, root: str, limits: ExtractLimits, links: bool
) -> ExtractResult:
    """See :func:`runtime.sandboxd.tarstream.extract_tar`."""
    return _Extraction(dest, root, limits, links).run(source)


class _Extraction:
    def __init__(self, dest: str, root: str, limits: ExtractLimits, links: bool) -> None:
        self.root = os.path.realpath(root)
        self.dest, self.limits, self.links = dest, limits, links
        self.result = ExtractResult()
        self.created: list[str] = []
        """What this archive created (not what it replaced), in order, for the roll-back."""
        self.symlinks: list[str] = []

    def run(self, source: Readable) -> ExtractResult:
        try:
            self._makedirs(self.dest)
            with tarfile.open(fileobj=source, mode="r|*") as tar:  # type: ignore[call-overload]
                for member in tar:
                    self._count(member)
                    self._member(tar, member)
            self._check_final_links()
        except tarfile.TarError as e:
            self._roll_back()
            raise InputError(f"not a valid tar stream: {e}") from e
        except BaseException:
            self._roll_back()
            raise
        return self.result

    # --- bounds ----------------------------------------------------------------------------------

    def _count(self, member: tarfile.TarInfo) -> None:
        self.result.entries += 1
        if self.result.entries > self.limits.max_entries:
            raise LimitExceeded(
                f"the archive has more than {self.limits.max_entries} entries ({self.limits.entries_setting})"
            )
        if member.issparse():
            raise InputError(f"tar member {member.name!r} is a sparse file, which is not supported")
        if member.isreg():
            self._add_bytes(member.size)

    def _add_bytes(self, size: int) -> None:
        self.result.bytes += size
        if self.result.bytes > self.limits.max_bytes:
            limit = self.limits
            raise LimitExceeded(
                f"the archive expands to more than {limit.max_bytes} bytes ({limit.bytes_setting})"
            )

    # --- members ---------------------------------------------------------------------------------

    def _member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        if not self.links and member.issym():
            self.result.skipped_links.append(member.name)
            return
        if not (member.isdir() or member.isreg() or member.issym() or member.islnk()):
            raise InputError(f"tar member {member.name!r} is a device, fifo or other special file")
        final = self._target(member.name)
        if not self.links:
            self._no_links_below(os.path.dirname(final))
        if member.isdir():
            self._clear(final)
            self._makedirs(final)
            return
        self._makedirs(os.path.dirname(final))
        self._clear(final)
        if member.issym():
            self._symlink(member, final)
        elif member.islnk():
            self._hard_link(member, final)
        else:
            src = tar.extractfile(member)
            assert src is not None
            with src:
                self._write(src, final, member.mode)

    def _symlink(self, member: tarfile.TarInfo, final: str) -> None:
        resolved = os.path.realpath(os.path.join(os.path.dirname(final), member.linkname))
        if not self._inside(resolved):
            raise PathOutsideWorkspace(
                f"tar symlink {member.name!r} -> {member.linkname!r} points outside {self.root!r}"
            )
        os.symlink(member.linkname, final)
        self.created.append(final)
        self.symlinks.append(final)

    def _hard_link(self, member: tarfile.TarInfo, final: str) -> None:
        """In the box a hard link; on the host a copy of the file it names (extracted earlier from
        the same archive), so no two names share an inode. Anything else is skipped there."""
        source = self._target(member.linkname)
        if self.links:
            os.link(source, final)
            self.created.append(final)
            return
        self._no_links_below(source)
        if not os.path.isfile(source):
            self.result.skipped_links.append(member.name)
            return
        self._add_bytes(os.path.getsize(source))
        with open(source, "rb") as src:
            self._write(src, final, member.mode)

    def _write(self, src: IO[bytes], final: str, mode: int) -> None:
        # O_NOFOLLOW|O_EXCL: the name was just cleared, so anything there now is a race: refuse it.
        fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self.created.append(final)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        os.chmod(final, mode & 0o777)

    # --- paths -----------------------------------------------------------------------------------

    def _inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root + os.sep)

    def _target(self, member_name: str) -> str:
        parts = member_name.replace("\\", "/").split("/")
        if member_name.startswith("/") or ".." in parts:
            raise PathOutsideWorkspace(f"tar member {member_name!r} is absolute or contains '..'")
        joined = os.path.normpath(os.path.join(self.dest, member_name))
        parent = os.path.realpath(os.path.dirname(joined))
        final = joined if joined == self.dest else os.path.join(parent, os.path.basename(joined))
        if not self._inside(parent) or not self._inside(final):
            raise PathOutsideWorkspace(f"tar member {member_name!r} would be written outside {self.root!r}")
        return final

    def _no_links_below(self, real: str) -> None:
        """Refuse a path with a symlink in any component below the root (host-side extraction)."""
        rel = os.path.relpath(real, self.root)
        path = self.root
        for part in [] if rel == "." else rel.split(os.sep):
            path = os.path.join(path, part)
            if os.path.islink(path):
                raise PathOutsideWorkspace(f"{path!r} is a symbolic link: nothing is written through it")

    def _makedirs(self, path: str) -> None:
        missing = []
        while not os.path.lexists(path):
            missing.append(path)
            path = os.path.dirname(path)
        for new in reversed(missing):
            os.mkdir(new)
            self.created.append(new)

    def _clear(self, final: str) -> None:
        """Remove what is at ``final`` (never write through an existing link); a folder stays."""
        if os.path.lexists(final) and not (os.path.isdir(final) and not os.path.islink(final)):
            os.unlink(final)

    def _check_final_links(self) -> None:
        """Links harmless one by one can escape together (``A -> B/../..`` checked while ``B`` did
        not exist, then ``B`` a link upwards): resolve each against the final tree."""
        escaping = [p for p in self.symlinks if not self._inside(os.path.realpath(p))]
        if escaping:
            names = ", ".join(repr(os.path.relpath(p, self.root)) for p in escaping[:5])
            raise PathOutsideWorkspace(f"tar symlinks {names} point outside {self.root!r} once extracted")

    def _roll_back(self) -> None:
        for path in reversed(self.created):
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    os.rmdir(path)
                else:
                    os.unlink(path)
            except OSError:
                continue  # already gone, or a folder something else wrote into meanwhile
