"""A tenant attacks the disk through the files API of a real server (real boxes, the real SDK):
tar bombs, archives of too many entries, uploads past the workspace quota, and archives whose
entries aim outside the workspace. Each is refused with a 4xx naming the limit, and the
workspace shows that nothing past it was written."""

from __future__ import annotations

import io
import os
import tarfile

import httpx
import pytest
from files_harness import (
    DEV_KEY,
    MAX_EXTRACT_BYTES,
    MAX_EXTRACT_ENTRIES,
    QUOTA_BYTES,
    FilesServer,
    MiB,
    member,
    tar_bytes,
)
from google.genai import _interactions as errors
from google.genai import errors as genai_errors

pytestmark = pytest.mark.docker


Refused = (errors.APIStatusError, genai_errors.ClientError)
"""The SDK's upload goes through its older HTTP layer for the bytes (``ClientError``), through the
newer one for the session start (``APIStatusError``)."""


def _refusal(caught: pytest.ExceptionInfo[Exception]) -> tuple[int, str, str]:
    error = caught.value
    if isinstance(error, genai_errors.ClientError):
        status, body = error.code, error.details
    else:
        assert isinstance(error, errors.APIStatusError)
        status, body = error.status_code, error.body
    assert isinstance(body, dict), body
    return status, body["error"]["code"], body["error"]["message"]


def _workspace_tar(server: FilesServer, env_id: str) -> tarfile.TarFile:
    data = server.environments().files.download(environment=env_id, path="")
    return tarfile.open(fileobj=io.BytesIO(data))


def _allocated(server: FilesServer, env_id: str) -> int:
    with _workspace_tar(server, env_id) as tar:
        return sum(m.size for m in tar.getmembers() if m.isreg())


def test_tar_bomb_is_refused_before_it_fills_the_disk(files_server: FilesServer) -> None:
    environments = files_server.environments()
    env = environments.create()
    try:
        bomb = tar_bytes((member("zeros.bin"), bytes(64 * MiB)), gz=True)
        assert len(bomb) < 200 * 1024  # a small gzip ...
        with pytest.raises(Refused) as caught:  # ... that would expand 300-fold
            environments.files.upload(environment=env.id, path="x", file=bomb, extract=True)
        status, code, message = _refusal(caught)
        assert (status, code) == (413, "resource_exhausted")
        assert f"more than {MAX_EXTRACT_BYTES} bytes (HANGAR_MAX_EXTRACT_BYTES)" in message
        assert _allocated(files_server, env.id) == 0  # not a byte of it, nor the upload itself
    finally:
        environments.delete(env.id)


def test_an_archive_of_too_many_entries_is_refused(files_server: FilesServer) -> None:
    environments = files_server.environments()
    env = environments.create()
    try:
        many = tar_bytes(*((member(f"d/f{i}"), b"") for i in range(MAX_EXTRACT_ENTRIES + 500)), gz=True)
        with pytest.raises(Refused) as caught:
            environments.files.upload(environment=env.id, path="x", file=many, extract=True)
        status, code, message = _refusal(caught)
        assert (status, code) == (413, "resource_exhausted")
        assert f"more than {MAX_EXTRACT_ENTRIES} entries (HANGAR_MAX_EXTRACT_ENTRIES)" in message
        with _workspace_tar(files_server, env.id) as tar:
            assert [m.name for m in tar.getmembers()] == ["."]  # and what it wrote before was removed
    finally:
        environments.delete(env.id)


def test_uploads_past_the_workspace_quota_are_refused(files_server: FilesServer) -> None:
    environments = files_server.environments()
    env = environments.create()
    try:
        environments.files.upload(environment=env.id, path="a.bin", file=os.urandom(4 * MiB))
        with pytest.raises(Refused) as caught:  # announced size: refused at the start
            environments.files.upload(environment=env.id, path="b.bin", file=os.urandom(4 * MiB))
        status, code, message = _refusal(caught)
        assert (status, code) == (413, "resource_exhausted")
        assert f"quota of {QUOTA_BYTES} bytes (HANGAR_WORKSPACE_QUOTA_BYTES)" in message
        # No size announced: refused while the bytes arrive, and the partial upload removed.
        start = httpx.post(
            f"{files_server.url}/upload/v1/environments/{env.id}/files/c.bin",
            params={"uploadType": "resumable"}, headers={"x-goog-api-key": DEV_KEY},
        )
        assert start.status_code == 200, start.text
        chunk = httpx.put(
            start.headers["location"], content=os.urandom(3 * MiB),
            headers={"content-range": f"bytes 0-{3 * MiB - 1}/*"},
        )
        assert chunk.status_code == 413, chunk.text
        assert "HANGAR_WORKSPACE_QUOTA_BYTES" in chunk.json()["error"]["message"]
        # An archive gets only what is left of the quota, and says so.
        rest = tar_bytes((member("big.bin"), bytes(3 * MiB)), gz=True)
        with pytest.raises(Refused) as caught:
            environments.files.upload(environment=env.id, path="t", file=rest, extract=True)
        assert "(HANGAR_WORKSPACE_QUOTA_BYTES)" in _refusal(caught)[2]
        assert _allocated(files_server, env.id) == 4 * MiB
    finally:
        environments.delete(env.id)


OUTSIDE = [
    ("dotdot", (member("../escaped.txt"), b"x")),
    ("absolute", (member("/tmp/escaped.txt"), b"x")),
    ("symlink out", (member("out", tarfile.SYMTYPE, "/etc"), None)),
    ("symlink up", (member("up", tarfile.SYMTYPE, "../../.."), None)),
    ("hardlink out", (member("hard", tarfile.LNKTYPE, "../../etc/passwd"), None)),
]


@pytest.mark.parametrize("entry", [e for _, e in OUTSIDE], ids=[n for n, _ in OUTSIDE])
def test_archive_entries_aiming_outside_are_refused(
    files_server: FilesServer, entry: tuple[tarfile.TarInfo, bytes | None]
) -> None:
    environments = files_server.environments()
    env = environments.create()
    try:
        with pytest.raises(Refused) as caught:
            environments.files.upload(environment=env.id, path="x", file=tar_bytes(entry), extract=True)
        assert _refusal(caught)[:2] == (400, "path_outside_workspace")
        _assert_no_link_leaves(files_server, env.id)
    finally:
        environments.delete(env.id)


def test_a_chain_of_links_harmless_one_by_one_is_refused(files_server: FilesServer) -> None:
    environments = files_server.environments()
    env = environments.create()
    try:
        chain = tar_bytes(
            (member("p/q/A", tarfile.SYMTYPE, "B/../../../etc"), None),  # inside while B is missing
            (member("p/q/B", tarfile.SYMTYPE, "../.."), None),  # inside too, but now A is /etc
            (member("p/q/A/escaped"), b"x"),
        )
        with pytest.raises(Refused) as caught:
            environments.files.upload(environment=env.id, path="x", file=chain, extract=True)
        assert _refusal(caught)[:2] == (400, "path_outside_workspace")
        _assert_no_link_leaves(files_server, env.id)
    finally:
        environments.delete(env.id)


def _assert_no_link_leaves(server: FilesServer, env_id: str) -> None:
    """Every link in the workspace resolves inside it (checked on the tar of the whole workspace)."""
    with _workspace_tar(server, env_id) as tar:
        for m in tar.getmembers():
            if m.issym():
                target = os.path.normpath(os.path.join("/workspace", os.path.dirname(m.name), m.linkname))
                assert target.startswith("/workspace"), (m.name, m.linkname)
            assert not m.islnk() or not m.linkname.startswith(("/", ".."))
