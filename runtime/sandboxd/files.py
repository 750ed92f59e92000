"""File operations on the workspace. Blocking functions: callers run them in a thread."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from typing import BinaryIO, Literal

from runtime.errors import InputError, NotFound
from runtime.sandboxd.paths import Workspace
from runtime.sandboxd.protocol import FileInfo, ListResult

READ_CHUNK = 256 * 1024

FileType = Literal["file", "directory", "symlink", "other"]


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
        mode=stat.S_IMODE(st.st_mode),
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
