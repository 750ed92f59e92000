"""Files, tar transfer and workspace confinement."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from runtime.errors import InputError, LimitExceeded, NotFound, PathOutsideWorkspace
from runtime.sandbox.client import SandboxdClient
from runtime.sandbox.local import LocalSandbox
from runtime.sandboxd.files import birth_time
from runtime.sandboxd.tarstream import ExtractLimits


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
    result = await client.download_path("in/proj", out)
    assert (out / "proj" / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    assert result.skipped_links == ["proj/link"]  # links are never created on the host
    assert not (out / "proj" / "link").is_symlink()
    assert not (out / "proj" / "link").exists()
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


async def test_tar_expansion_and_entry_caps_name_their_setting(
    client: SandboxdClient, box: LocalSandbox
) -> None:
    big = _tar((_member("a.bin"), b"a" * 4000), (_member("b.bin"), b"b" * 4000))
    with pytest.raises(LimitExceeded, match=r"more than 5000 bytes \(HANGAR_MAX_EXTRACT_BYTES\)"):
        await client.upload_tar("x", big, limits=ExtractLimits(max_bytes=5000))
    assert not (Path(box.workspace) / "x" / "b.bin").exists()  # refused before writing
    many = _tar(*((_member(f"f{i}"), b"") for i in range(5)))
    with pytest.raises(LimitExceeded, match=r"more than 3 entries \(QUOTA\)"):
        await client.upload_tar("y", many, limits=ExtractLimits(max_entries=3, entries_setting="QUOTA"))
    assert await client.upload_tar("z", many, limits=ExtractLimits(max_entries=5)) == 5


async def test_sparse_members_are_refused(client: SandboxdClient) -> None:
    info = _member("sparse", tarfile.GNUTYPE_SPARSE)
    with pytest.raises(InputError):
        await client.upload_tar(".", _tar((info, b"x")))


async def test_usage_counts_allocated_bytes_and_entries(client: SandboxdClient) -> None:
    before = await client.usage()
    await client.write_file("u/one.bin", os.urandom(64 * 1024))
    after = await client.usage()
    assert after.entries == before.entries + 2  # the folder and the file
    assert after.bytes - before.bytes >= 64 * 1024
    assert after.complete
    stopped = await client.usage(stop_entries=0)
    assert not stopped.complete


async def test_files_report_their_birth_time(client: SandboxdClient, box: LocalSandbox) -> None:
    info = await client.write_file("born.txt", b"x")
    expected = birth_time(os.path.join(box.workspace, "born.txt"))
    assert info.created == expected
    if expected is not None:  # where the filesystem records it
        assert abs(expected - info.mtime) < 5


def _chain_escape() -> bytes:
    """Links harmless one by one: ``p/q/A -> B/../../x`` checks out while B does not exist, then
    ``p/q/B -> ../..`` makes A point two levels above the extraction root."""
    return _tar(
        (_member("p/q/A", tarfile.SYMTYPE, "B/../../../secret"), None),
        (_member("p/q/B", tarfile.SYMTYPE, "../.."), None),
        (_member("p/q/A/owned", tarfile.REGTYPE), b"pwned"),
    )


async def test_host_extraction_creates_no_links_and_writes_through_none(tmp_path: Path) -> None:
    from runtime.cli.run_output import extract_bytes

    outside = tmp_path / "secret"
    outside.write_text("host file")
    out = tmp_path / "out" / "files"
    result = await extract_bytes(_chain_escape(), out)
    assert sorted(result.skipped_links) == ["p/q/A", "p/q/B"]
    assert outside.read_text() == "host file"
    assert (out / "p" / "q" / "A" / "owned").read_bytes() == b"pwned"  # a plain folder now
    assert not any(p.is_symlink() for p in out.rglob("*"))
    # A link already under the output folder (left by someone else) is not written through.
    (out / "p" / "link").symlink_to(tmp_path)
    planted = _tar((_member("p/link/escaped"), b"x"))
    with pytest.raises(PathOutsideWorkspace):
        await extract_bytes(planted, out)
    assert not (tmp_path / "escaped").exists()


async def test_in_box_extraction_resolves_links_against_the_final_tree(
    client: SandboxdClient, box: LocalSandbox
) -> None:
    chain = _tar(
        (_member("p/q/A", tarfile.SYMTYPE, "B/../../.."), None),
        (_member("p/q/B", tarfile.SYMTYPE, "../.."), None),
    )
    with pytest.raises(PathOutsideWorkspace, match="once extracted"):
        await client.upload_tar(".", chain)
    assert not (Path(box.workspace) / "p").exists()  # all or nothing: what it created is gone


async def test_a_refused_archive_leaves_nothing_it_created(client: SandboxdClient, box: LocalSandbox) -> None:
    await client.write_file("keep/old.txt", b"old")
    archive = _tar(
        (_member("keep/new.txt"), b"new"), (_member("fresh/dir/f.txt"), b"f"), (_member("../x"), b"x")
    )
    with pytest.raises(PathOutsideWorkspace):
        await client.upload_tar(".", archive)
    assert [e.path for e in await client.list_files(".", recursive=True)] == ["keep", "keep/old.txt"]
