"""Environment files as Google's clients use them, through the real google-genai client against a
real server and real boxes: a directory downloaded as a POSIX tar, ``overwrite=false`` answered
409 ``aborted``, ``created`` on files, the REST one-shot and ``Content-Range`` uploads, the legacy
``files/environment-{id}:download``, and upload session URLs that ignore a lying ``Host``."""

from __future__ import annotations

import io
import tarfile
import time
import warnings
from typing import Any

import httpx
import pytest
from api_harness import HangarServer
from google import genai
from google.genai import _interactions as errors
from google.genai import types

pytestmark = pytest.mark.docker

DEFAULT_PUBLIC = "http://127.0.0.1:8080"
"""The fixture's server sets no ``public_url``: the default comes from host and port settings."""


def environments_of(client: genai.Client) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return client.environments


def test_a_directory_downloads_as_a_posix_tar(hangar: HangarServer) -> None:
    client = hangar.client()
    environments = environments_of(client)
    env = environments.create()
    try:
        environments.files.upload(environment=env.id, path="src/a.py", file=b"print('a')\n")
        environments.files.upload(environment=env.id, path="src/pkg/b.txt", file=b"BB")
        data = environments.files.download(environment=env.id, path="src")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:  # plain, uncompressed tar
            assert sorted(tar.getnames()) == ["src", "src/a.py", "src/pkg", "src/pkg/b.txt"]
            extracted = tar.extractfile("src/pkg/b.txt")
            assert extracted is not None and extracted.read() == b"BB"
        listing = environments.files.list(env.id, "src", recursive=True)
        assert all(f.created and f.modified for f in listing.files)
        # The older SDKs' download of a whole environment.
        beta = hangar.client(api_version="v1beta")
        legacy = beta.files.download(file=f"environment-{env.id}")
        with tarfile.open(fileobj=io.BytesIO(legacy)) as tar:
            assert "./src/a.py" in tar.getnames()
    finally:
        environments.delete(env.id)


def test_overwrite_false_on_an_existing_path_is_409_aborted(hangar: HangarServer) -> None:
    client = hangar.client()  # kept: a dropped client closes its connections
    environments = environments_of(client)
    env = environments.create()
    try:
        environments.files.upload(environment=env.id, path="a.txt", file=b"first")
        with pytest.raises(errors.ConflictError) as caught:
            environments.files.upload(environment=env.id, path="a.txt", file=b"second", overwrite=False)
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["error"]["code"] == "aborted"
        assert environments.files.download(environment=env.id, path="a.txt") == b"first"
    finally:
        environments.delete(env.id)


def test_upload_session_urls_ignore_a_lying_host_header(hangar: HangarServer) -> None:
    liar = genai.Client(
        api_key=hangar.dev_key,
        http_options=types.HttpOptions(base_url=hangar.url, headers={"Host": "attacker.example:666"}),
    )
    environments = environments_of(liar)
    env = environments.create()
    try:
        uploaded = environments.files.upload(environment=env.id, path="h.txt", file=b"through a liar")
        assert uploaded.files[0].path == "workspace/h.txt"
        start = httpx.put(
            f"{hangar.url}/upload/v1/environments/{env.id}/files/raw.txt",
            headers={
                "x-goog-api-key": hangar.dev_key, "host": "attacker.example:666",
                "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start",
            },
        )
        assert start.status_code == 200, start.text
        session = start.headers["x-goog-upload-url"]
        expected = f"{DEFAULT_PUBLIC}/upload/v1/environments/{env.id}/files/raw.txt?upload_id="
        assert session.startswith(expected)
        assert "attacker" not in session
    finally:
        environments.delete(env.id)


def test_rest_one_shot_and_content_range_uploads(hangar: HangarServer) -> None:
    client = hangar.client()  # kept: a dropped client closes its connections
    environments = environments_of(client)
    env = environments.create()
    base = f"{hangar.url}/upload/v1/environments/{env.id}/files"
    key = {"x-goog-api-key": hangar.dev_key}
    try:
        one = httpx.post(f"{base}/one.txt", params={"uploadType": "media"}, headers=key, content=b"one shot")
        assert one.status_code == 200, one.text
        assert one.json()["files"][0]["size_bytes"] == "8"

        start = httpx.post(f"{base}/big.bin", params={"uploadType": "resumable"}, headers=key)
        assert start.status_code == 200, start.text
        session = start.headers["location"]
        assert session.startswith(DEFAULT_PUBLIC)
        session = hangar.url + session.removeprefix(DEFAULT_PUBLIC)  # as a client behind a proxy would
        data = bytes(range(256)) * 40  # 10240 bytes in two pieces
        first = httpx.put(session, content=data[:4096], headers={"content-range": "bytes 0-4095/*"})
        assert (first.status_code, first.headers.get("range")) == (308, "bytes=0-4095")
        status = httpx.put(session, headers={"content-range": f"bytes */{len(data)}"})
        assert (status.status_code, status.headers.get("range")) == (308, "bytes=0-4095")
        wrong = httpx.put(session, content=b"x", headers={"content-range": "bytes 10-10/*"})
        assert wrong.status_code == 400
        last = httpx.put(
            session, content=data[4096:], headers={"content-range": f"bytes 4096-{len(data) - 1}/{len(data)}"}
        )
        assert last.status_code == 200, last.text
        assert environments.files.download(environment=env.id, path="big.bin") == data
        assert environments.files.download(environment=env.id, path="one.txt") == b"one shot"

        unknown = httpx.post(f"{base}/m.txt", params={"uploadType": "multipart"}, headers=key, content=b"x")
        assert unknown.status_code == 400 and "uploadType" in unknown.text
        anonymous = httpx.post(f"{base}/anon.txt", params={"uploadType": "media"}, content=b"x")
        assert anonymous.status_code == 401
    finally:
        environments.delete(env.id)


def test_file_uploads_downloads_and_listings_record_last_accessed(hangar: HangarServer) -> None:
    client = hangar.client()
    environments = environments_of(client)
    env = environments.create()
    try:
        assert environments.get(env.id).last_accessed is None
        environments.files.upload(environment=env.id, path="seen.txt", file=b"x")
        uploaded = environments.get(env.id).last_accessed
        assert uploaded is not None
        time.sleep(1.1)  # the wire's timestamps have whole seconds
        assert environments.files.download(environment=env.id, path="seen.txt") == b"x"
        downloaded = environments.get(env.id).last_accessed
        assert downloaded is not None and downloaded > uploaded
        time.sleep(1.1)
        environments.files.list(env.id, ".")
        assert environments.get(env.id).last_accessed > downloaded
    finally:
        environments.delete(env.id)
