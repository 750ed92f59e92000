"""``GET /v1/interactions`` (a Hangar extension) through raw HTTP: newest first, paged, filtered
by status and agent, and scoped to the caller's project (a second tenant sees none of them)."""

from __future__ import annotations

import httpx
from api_harness import HangarServer

from runtime.llm import turn

MODEL = "gemini-3-flash-preview"


def _client(hangar: HangarServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=hangar.url, headers={"x-goog-api-key": key}, timeout=30)


def test_the_list_is_newest_first_paged_filtered_and_project_scoped(hangar: HangarServer) -> None:
    hangar.script.set(turn("one"), turn("two"), turn("three"))
    with _client(hangar, hangar.dev_key) as client:
        made = []
        for text in ("a", "b", "c"):
            response = client.post("/v1/interactions", json={"model": MODEL, "input": text})
            assert response.status_code == 200, response.text
            made.append(response.json()["id"])

        first = client.get("/v1/interactions", params={"page_size": 2})
        assert first.status_code == 200
        page = first.json()
        assert [i["id"] for i in page["interactions"]] == [made[2], made[1]]
        assert all("steps" not in i for i in page["interactions"])
        assert page["interactions"][0]["model"] == MODEL
        token = page["next_page_token"]
        second = client.get("/v1/interactions", params={"page_size": 2, "page_token": token})
        assert second.json()["interactions"][0]["id"] == made[0]

        completed = client.get("/v1/interactions", params={"status": "completed", "page_size": 1000}).json()
        assert set(made) <= {i["id"] for i in completed["interactions"]}
        assert all(i["status"] == "completed" for i in completed["interactions"])
        failed = client.get("/v1/interactions", params={"status": "failed", "page_size": 1000}).json()
        assert all(i["status"] == "failed" for i in failed["interactions"])
        assert not set(made) & {i["id"] for i in failed["interactions"]}
        by_agent = client.get("/v1/interactions", params={"agent": "no-such-agent"}).json()
        assert by_agent["interactions"] == [] and by_agent["next_page_token"] == ""

        bad = client.get("/v1/interactions", params={"status": "sleeping"})
        assert bad.status_code == 400 and "status must be one of" in bad.text
        assert client.get("/v1/interactions", params={"page_token": "x"}).status_code == 400

    with _client(hangar, hangar.other_key) as other:
        theirs = other.get("/v1/interactions", params={"page_size": 1000})
        assert theirs.status_code == 200
        assert not set(made) & {i["id"] for i in theirs.json()["interactions"]}
        assert other.get(f"/v1/interactions/{made[0]}").status_code == 404

    with httpx.Client(base_url=hangar.url) as anonymous:
        assert anonymous.get("/v1/interactions").status_code == 401


def test_the_console_serves_its_own_files_only_with_a_strict_policy(hangar: HangarServer) -> None:
    with httpx.Client(base_url=hangar.url) as client:
        redirect = client.get("/console")
        assert redirect.status_code == 307 and redirect.headers["location"] == "console/"
        page = client.get("/console/")
        assert page.status_code == 200 and 'type="module"' in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        module = client.get("/console/main.js")
        assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
        for probe in ("__init__.py", "..%2F__init__.py", "%2e%2e%2fconsole%2fmain.js", "index.html.bak",
                      "..%2F..%2Fconfig.py", "main.js%00.py"):
            assert client.get(f"/console/{probe}").status_code == 404, probe
        assert client.get("/console/../api/app.py").status_code == 404
