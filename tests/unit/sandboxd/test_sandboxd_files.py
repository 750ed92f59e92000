"""Files, tar transfer and workspace confinement."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from runtime.errors import InputError, NotFound, PathOutsideWorkspace
from runtime.sandbox.client import SandboxdClient
from runtime.sandbox.local import LocalSandbox


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


async def test_binary_round_trip_ranges_and_append(client: SandboxdClient) -> None:
    data = bytes(range(256)) * 100
    info = await client.write_file("deep/dir/blob.bin", data, mode=0o600)
    assert (info.path, info.size, info.type, info.mode) == ("deep/dir/blob.bin", len(data), "file", 0o600)
    assert await client.read_file("deep/dir/blob.bin") == data
    assert await client.read_file("deep/dir/blob.bin", offset=10, length=5) == data[10:15]
    await client.write_file("deep/dir/blob.bin", b"tail", append=True)
    assert (await client.read_file("deep/dir/blob.bin", offset=len(data))) == b"tail"


async def test_list_stat_move_delete_mkdir(client: SandboxdClient) -> None:
    await client.mkdir("a/b")
    await client.write_file("a/b/f.txt", "x")
    await client.write_file("top.txt", "y")
    names = [e.path for e in await client.list_files(recursive=True)]
    assert names == ["a", "a/b", "a/b/f.txt", "top.txt"]
    assert [e.path for e in await client.list_files("a")] == ["a/b"]
    assert (await client.stat("a")).type == "directory"
    moved = await client.move("a/b/f.txt", "c/g.txt")
    assert moved.path == "c/g.txt" and await client.read_file("c/g.txt") == b"x"
    with pytest.raises(InputError, match="exists"):
        await client.move("top.txt", "c/g.txt")
    await client.move("top.txt", "c/g.txt", overwrite=True)
    with pytest.raises(InputError, match="non-empty"):
        await client.delete("a")
    await client.delete("a", recursive=True)
    with pytest.raises(NotFound):
        await client.stat("a")
    with pytest.raises(InputError, match="workspace root"):
        await client.delete(".", recursive=True)


async def test_missing_paths_are_not_found(client: SandboxdClient) -> None:
    calls = [client.stat("nope"), client.read_file("nope"), client.delete("nope"), client.list_files("nope")]
    for call in calls:
        with pytest.raises(NotFound, match="nope"):
            await call


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "/workspace-nope/x"])
async def test_escaping_paths_are_rejected(client: SandboxdClient, path: str) -> None:
    with pytest.raises(PathOutsideWorkspace, match="outside the workspace"):
        await client.write_file(path, "x")
    with pytest.raises(PathOutsideWorkspace):
        await client.read_file(path)
    with pytest.raises(PathOutsideWorkspace):
        await client.exec("true", cwd=path)


async def test_symlink_to_outside_is_rejected_but_can_be_deleted(
    client: SandboxdClient, box: LocalSandbox
) -> None:
    os.symlink("/etc", os.path.join(box.workspace, "etc"))
    with pytest.raises(PathOutsideWorkspace, match="'etc/passwd'"):
        await client.read_file("etc/passwd")
    with pytest.raises(PathOutsideWorkspace):
        await client.list_files("etc")
    await client.delete("etc")  # the link itself lives in the workspace
    assert await client.list_files() == []


async def test_tar_round_trip(client: SandboxdClient, tmp_path: Path) -> None:
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text("print(1)\n")
    (src / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (src / "link").symlink_to("pkg/mod.py")
    assert await client.upload_path(src, "in") >= 4
    assert await client.read_file("in/proj/pkg/mod.py") == b"print(1)\n"
    out = tmp_path / "out"
    await client.download_path("in/proj", out)
    assert (out / "proj" / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    assert os.readlink(out / "proj" / "link") == "pkg/mod.py"
    chunks = [c async for c in client.download_tar("in/proj/pkg/mod.py")]
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        assert tar.getnames() == ["mod.py"]


@pytest.mark.parametrize(
    "member",
    [
        _member("../x"),
        _member("/abs/x"),
        _member("a/../../x"),
        _member("evil", tarfile.SYMTYPE, "/etc"),
        _member("evil", tarfile.SYMTYPE, "../../etc"),
        _member("hard", tarfile.LNKTYPE, "../outside"),
    ],
)
async def test_tar_members_escaping_are_rejected(client: SandboxdClient, member: tarfile.TarInfo) -> None:
    with pytest.raises(PathOutsideWorkspace):
        await client.upload_tar(".", _tar((member, b"x" if member.isreg() else None)))


async def test_tar_device_file_is_rejected(client: SandboxdClient) -> None:
    with pytest.raises(InputError, match="device"):
        await client.upload_tar(".", _tar((_member("dev", tarfile.CHRTYPE), None)))


async def test_tar_cannot_write_through_an_earlier_symlink(client: SandboxdClient, box: LocalSandbox) -> None:
    inside = _member("d", tarfile.SYMTYPE, ".")
    with pytest.raises(PathOutsideWorkspace):
        await client.upload_tar(".", _tar((inside, None), (_member("d/../../x"), b"x")))


async def test_garbage_upload_is_an_input_error(client: SandboxdClient) -> None:
    with pytest.raises(InputError, match="tar"):
        await client.upload_tar(".", b"not a tar" * 100)
