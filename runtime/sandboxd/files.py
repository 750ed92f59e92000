"""File operations on the workspace. Blocking functions: callers run them in a thread."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import stat
import sys
from collections.abc import Iterator, Mapping
from typing import BinaryIO, Literal

from runtime.errors import InputError, NotFound
from runtime.sandboxd.paths import Workspace
from runtime.sandboxd.protocol import FileInfo, ListResult
from runtime.sandboxd.tarstream import ExtractLimits

READ_CHUNK = 256 * 1024

FileType = Literal["file", "directory", "symlink", "other"]

_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100
_STATX_BTIME = 0x800
_STATX_BTIME_OFFSET = 80
"""Offset of ``stx_btime`` (``{s64 tv_sec; u32 tv_nsec; s32 pad}``) in ``struct statx``."""
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_statx = getattr(_libc, "statx", None)


def birth_time(real: str, *, follow: bool = True) -> float | None:
    """When the file was created, where ``statx`` reports it (``os.stat`` has no birth time on
    Linux); ``None`` when the kernel, the filesystem or the C library does not."""
    if _statx is None:
        return None
    buf = ctypes.create_string_buffer(256)
    flags = 0 if follow else _AT_SYMLINK_NOFOLLOW
    if _statx(_AT_FDCWD, os.fsencode(real), flags, _STATX_BTIME, buf) != 0:
        return None
    mask = int.from_bytes(buf.raw[0:4], sys.byteorder)
    if not mask & _STATX_BTIME:
        return None
    sec = int.from_bytes(buf.raw[_STATX_BTIME_OFFSET : _STATX_BTIME_OFFSET + 8], sys.byteorder, signed=True)
    nsec = int.from_bytes(buf.raw[_STATX_BTIME_OFFSET + 8 : _STATX_BTIME_OFFSET + 12], sys.byteorder)
    return sec + nsec / 1e9


def _type(mode: int) -> FileType:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    return "file" if stat.S_ISREG(mode) else "other"


def info(ws: Workspace, real: str, *, follow: bool = True) -> FileInfo:
    try:
        st = os.stat(real) if follow else os.lstat(real)
    except FileNotFoundError as e:
        raise NotFound(f"no such file or directory: {ws.relative(real)!r}") from e
    return FileInfo(
        path=ws.relative(real), type=_type(st.st_mode), size=st.st_size, mtime=st.st_mtime,
        mode=stat.S_IMODE(st.st_mode), created=birth_time(real, follow=follow),
    )


def list_dir(ws: Workspace, path: str, *, recursive: bool, max_entries: int) -> ListResult:
    real = ws.existing(path)
    if not os.path.isdir(real):
        return ListResult(entries=[info(ws, real)])
    entries: list[FileInfo] = []
    for entry in _walk(real, recursive):
        if len(entries) >= max_entries:
            return ListResult(entries=entries, truncated=True)
        try:
            entries.append(info(ws, entry, follow=False))
        except NotFound:
            continue  # removed while we walked
    return ListResult(entries=entries)


def _walk(top: str, recursive: bool) -> Iterator[str]:
    try:
        with os.scandir(top) as it:
            items = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    for item in items:
        yield item.path
        if recursive and item.is_dir(follow_symlinks=False):
            yield from _walk(item.path, recursive)


def directory(ws: Workspace, path: str, *, create: bool = False) -> str:
    """The real path of directory ``path``; ``NotFound`` unless it exists or ``create``."""
    real = ws.resolve(path)
    if create:
        os.makedirs(real, exist_ok=True)
    elif not os.path.lexists(real):
        raise NotFound(f"no such directory: {path!r}")
    if not os.path.isdir(real):
        raise InputError(f"{path!r} is not a directory")
    return real


def regular(ws: Workspace, path: str) -> str:
    real = ws.existing(path)
    if os.path.isdir(real):
        raise InputError(f"{path!r} is a directory")
    return real


def read_chunks(real: str, offset: int, length: int | None) -> Iterator[bytes]:
    with open(real, "rb") as f:
        f.seek(offset)
        left = length
        while left is None or left > 0:
            data = f.read(READ_CHUNK if left is None else min(READ_CHUNK, left))
            if not data:
                return
            if left is not None:
                left -= len(data)
            yield data


def open_for_write(ws: Workspace, path: str, *, append: bool, mode: int | None) -> tuple[str, BinaryIO]:
    real = ws.resolve(path)
    if os.path.isdir(real):
        raise InputError(f"{path!r} is a directory")
    os.makedirs(os.path.dirname(real), exist_ok=True)
    f = open(real, "ab" if append else "wb")  # noqa: SIM115 - the caller closes it
    if mode is not None:
        os.chmod(real, mode & 0o7777)
    return real, f


def mkdir(ws: Workspace, path: str) -> FileInfo:
    real = ws.resolve(path)
    if os.path.exists(real) and not os.path.isdir(real):
        raise InputError(f"{path!r} exists and is not a directory")
    os.makedirs(real, exist_ok=True)
    return info(ws, real)


def move(ws: Workspace, src: str, dst: str, *, overwrite: bool) -> FileInfo:
    real_src = ws.existing(src, follow=False)
    real_dst = ws.resolve(dst, follow=False)
    if real_src == ws.root:
        raise InputError("cannot move the workspace root")
    if os.path.isdir(real_dst) and not os.path.islink(real_dst):
        real_dst = os.path.join(real_dst, os.path.basename(real_src))
    if os.path.lexists(real_dst):
        if not overwrite:
            raise InputError(f"{dst!r} exists (pass overwrite to replace it)")
        _remove(real_dst, recursive=True)
    os.makedirs(os.path.dirname(real_dst), exist_ok=True)
    shutil.move(real_src, real_dst)
    return info(ws, real_dst, follow=False)


def delete(ws: Workspace, path: str, *, recursive: bool) -> None:
    real = ws.existing(path, follow=False)
    if real == ws.root:
        raise InputError("refusing to delete the workspace root")
    if os.path.isdir(real) and not os.path.islink(real) and not recursive and os.listdir(real):
        raise InputError(f"{path!r} is a non-empty directory (pass recursive to delete it)")
    _remove(real, recursive=recursive)


def _remove(real: str, *, recursive: bool) -> None:
    if os.path.isdir(real) and not os.path.islink(real):
        if recursive:
            shutil.rmtree(real)
        else:
            os.rmdir(real)
    else:
        os.unlink(real)


def optional_int(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError as e:
        raise InputError(f"{name} must be an integer, got {raw!r}") from e
    if value < 0:
        raise InputError(f"{name} must not be negative")
    return value


def extract_limits(query: Mapping[str, str]) -> ExtractLimits:
    """Bounds of an upload's extraction from its query (``max_bytes``, ``max_entries`` and the
    names of the settings behind them); the defaults of :class:`ExtractLimits` otherwise."""
    default = ExtractLimits()
    max_bytes, max_entries = optional_int(query, "max_bytes"), optional_int(query, "max_entries")
    return ExtractLimits(
        max_bytes=default.max_bytes if max_bytes is None else max_bytes,
        max_entries=default.max_entries if max_entries is None else max_entries,
        bytes_setting=query.get("bytes_setting") or default.bytes_setting,
        entries_setting=query.get("entries_setting") or default.entries_setting,
    )
