"""A resumable upload started on one server goes on on another one sharing the database, and on
that one after a restart: the session is in the store, its bytes in the workspace volume."""

from __future__ import annotations

import contextlib
import warnings
from urllib.parse import urlsplit

import docker
import httpx
import pytest
from fleet_harness import Fleet
from server_process import API_KEY, fake_gemini

from runtime.llm.script import forever, turn
from runtime.sandbox.engine import namespace_filter


@pytest.mark.docker
@pytest.mark.slow
def test_an_upload_started_on_one_server_is_resumed_on_the_other_and_after_a_restart(
    fleet: Fleet, sandbox_image: str
) -> None:
    namespaces = [f"{fleet.namespace}-a", f"{fleet.namespace}-b"]
    with fake_gemini(forever(turn("unused"))) as fake:
        first, second = (
            fleet.add(fake.base_url, HANGAR_SANDBOX_IMAGE=sandbox_image, HANGAR_SANDBOX_NAMESPACE=n)
            for n in namespaces
        )
        client = first.client()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            environments = client.environments
        env = environments.create()
        key = {"x-goog-api-key": API_KEY}
        try:
            start = httpx.post(
                f"{first.url}/upload/v1/environments/{env.id}/files/big.bin",
                params={"uploadType": "resumable"}, headers=key, timeout=60,
            )
            assert start.status_code == 200, start.text
            parts = urlsplit(start.headers["location"])
            assert parts.port == first.port
            on_first = start.headers["location"]
            on_second = on_first.replace(f":{first.port}/", f":{second.port}/", 1)
            data = bytes(range(256)) * 48  # 12288 bytes in three pieces
            one = httpx.put(
                on_first, content=data[:4096], headers={"content-range": "bytes 0-4095/*"}, timeout=60
            )
            assert (one.status_code, one.headers.get("range")) == (308, "bytes=0-4095"), one.text
            status = httpx.put(on_second, headers={"content-range": f"bytes */{len(data)}"}, timeout=60)
            assert (status.status_code, status.headers.get("range")) == (308, "bytes=0-4095"), status.text
            two = httpx.put(
                on_second, content=data[4096:8192], headers={"content-range": "bytes 4096-8191/*"}, timeout=60
            )
            assert (two.status_code, two.headers.get("range")) == (308, "bytes=0-8191"), two.text
            second.stop()
            second.start()
            stale = httpx.put(on_second, content=b"x", headers={"content-range": "bytes 0-0/*"}, timeout=60)
            assert stale.status_code == 400  # the offset is known after the restart
            last = httpx.put(
                on_second, content=data[8192:],
                headers={"content-range": f"bytes 8192-{len(data) - 1}/{len(data)}"}, timeout=60,
            )
            assert last.status_code == 200, last.text
            assert environments.files.download(environment=env.id, path="big.bin") == data
            gone = httpx.put(on_first, headers={"content-range": f"bytes */{len(data)}"}, timeout=60)
            assert gone.status_code == 404  # finished: the session is no more, on any server
        finally:
            # Both servers hold a file box on the workspace: stop them, then remove what is left.
            for server in fleet.servers:
                server.stop()
            engine = docker.from_env()
            try:
                for namespace in namespaces:
                    for container in engine.containers.list(all=True, filters=namespace_filter(namespace)):
                        with contextlib.suppress(docker.errors.APIError):
                            container.remove(force=True)
                for volume in engine.volumes.list():
                    if env.id in (volume.name or ""):
                        with contextlib.suppress(docker.errors.APIError):
                            volume.remove(force=True)
            finally:
                engine.close()
