"""The web console in a real headless Chromium against a real Hangar server: agent runs in real
Docker boxes with the scripted fake Gemini, the page driving the public API like a person would."""

from __future__ import annotations

import asyncio
import io
import re
import secrets
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from api_harness import HangarServer
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from runtime.llm import call, turn

pytestmark = [pytest.mark.browser, pytest.mark.docker]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
AGENT = "antigravity"
WALKTHROUGH = call("update_artifact", artifact="walkthrough", content="# W", id="wt")
RUN_LIMIT_MS = 90_000
PWN = "<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>"
HOSTILE_NAME = "<img src=x onerror=window.__pwned=3>.txt"
NOTES = f"# Notes\n\n**bold** {PWN}\n[x](javascript:alert(1))"
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


async def console(
    browser: Browser, url: str, key: str, route: str = "", *, phone: bool = False
) -> tuple[Page, list[str]]:
    """A fresh page (own session storage) on the console with the key entered; returns it and
    the URLs it requested (to check the key never goes into one)."""
    size = {"width": 390, "height": 844} if phone else {"width": 1200, "height": 900}
    context = await browser.new_context(viewport=size, accept_downloads=True)
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("dialog", lambda dialog: pytest.fail(f"the page opened a dialog: {dialog.message}"))
    await page.goto(f"{url}/console{route}")
    await page.get_by_label("Key", exact=True).fill(key)
    await page.get_by_role("button", name="Use key").click()
    await expect(page.get_by_role("navigation", name="Sections")).to_be_visible()
    return page, requested


async def create(hangar: HangarServer, body: dict[str, object]) -> str:
    async with httpx.AsyncClient(base_url=hangar.url, headers={"x-goog-api-key": hangar.dev_key}) as client:
        response = await client.post("/v1/interactions", json={"background": True, **body})
        response.raise_for_status()
        interaction_id: str = response.json()["id"]
        return interaction_id


async def get(hangar: HangarServer, interaction_id: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=hangar.url, headers={"x-goog-api-key": hangar.dev_key}) as client:
        response = await client.get(f"/v1/interactions/{interaction_id}", params={"stream": "true"})
        assert response.status_code == 200  # the stream ends after interaction.completed
        found: dict[str, object] = (await client.get(f"/v1/interactions/{interaction_id}")).json()
        return found


async def let_go(hangar: HangarServer, run_id: str) -> None:
    """Uploads ``go.txt`` into the run's environment, which ends its ``SLOW_ECHO``."""
    async with httpx.AsyncClient(base_url=hangar.url, headers={"x-goog-api-key": hangar.dev_key}) as client:
        environment_id = (await client.get(f"/v1/interactions/{run_id}")).json()["environment_id"]
        target = f"/upload/v1/environments/{environment_id}/files/go.txt"
        response = await client.post(target, params={"uploadType": "media"}, content=b"go")
        assert response.status_code == 200, response.text


def checked(hangar: HangarServer, requested: list[str]) -> None:
    assert all(hangar.dev_key not in url for url in requested), "the key must never be in a URL"
    outside = [url for url in requested if not url.startswith(hangar.url) and not url.startswith("blob:")]
    assert outside == [], f"the page reached outside the server: {outside}"


async def has_status(page: Page, status: str) -> None:
    await expect(page.locator("#run-status")).to_have_attribute("data-status", status, timeout=RUN_LIMIT_MS)


async def next_run(page: Page, previous: str) -> str:
    """The id of the run the page moved on to from ``previous``, once its view is shown."""
    await expect(page).not_to_have_url(re.compile(re.escape(previous) + "$"), timeout=RUN_LIMIT_MS)
    run_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator("#run-title")).to_contain_text(run_id)
    return run_id


async def not_pwned(page: Page) -> None:
    assert await page.evaluate("window.__pwned") is None, "a payload's script ran"
    assert await page.locator("#view script, #view [onerror]").count() == 0


SLOW_ECHO = "until [ -f go.txt ]; do sleep 0.2; done; echo console-says-$((6*7))"
"""Runs until the test uploads ``go.txt``: the run is live for as long as the test looks at it."""


async def test_start_from_the_agents_tab_follow_live_then_find_it_in_the_list(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    hangar.script.set(
        turn(calls=[call("update_artifact", artifact="plan", content="- say 42\n- write up", id="p1")]),
        turn("Running the *shell* now.", calls=[call("shell", command=SLOW_ECHO, id="s1")]),
        turn(calls=[WALKTHROUGH]),
        turn("## Done\n\nThe shell printed **console-says-42**."),
    )
    page, requested = await console(browser, hangar.url, hangar.dev_key, "#/agents")
    await expect(page.locator("#agents")).to_contain_text(AGENT)
    await page.get_by_label("Agent", exact=True).select_option(AGENT)
    await page.get_by_label("Task").fill("Say 42 from the shell")
    await page.get_by_role("button", name="Start run").click()
    await expect(page).to_have_url(re.compile(r"#/runs/int_"))
    run_id = page.url.rsplit("/", 1)[1]

    # live: the command shows while the run still goes, without reloading the page
    code = page.locator(".step--code_execution_call")
    await expect(code).to_contain_text("console-says", timeout=RUN_LIMIT_MS)
    await expect(page.locator(".step--model_output").first).to_contain_text("Running the shell now.")
    assert await page.locator("#run-status").get_attribute("data-status") == "in_progress"
    assert any("stream=true" in url for url in requested), "the steps should come from the SSE stream"
    await let_go(hangar, run_id)
    await expect(page.locator("#run-plan")).to_contain_text("say 42")
    await has_status(page, "completed")
    await expect(page.locator(".step--code_execution_result")).to_contain_text("console-says-42")
    await expect(page.locator(".step--model_output strong")).to_have_text("console-says-42")
    await expect(page.locator("#run-usage")).to_contain_text("Total tokens")
    await expect(page.locator("#run-meta")).to_contain_text("Took")
    await page.screenshot(path=str(tmp_path / "console-run.png"), full_page=True)

    await page.get_by_role("link", name="Runs").click()
    row = page.locator(f"#runs tr[data-id='{run_id}']")
    await expect(row).to_contain_text("completed")
    await expect(row).to_contain_text(AGENT)
    await page.get_by_label("Status").select_option("completed")
    await page.get_by_role("button", name="Filter").click()
    await expect(row).to_be_visible()
    await page.screenshot(path=str(tmp_path / "console-runs.png"), full_page=True)
    await page.get_by_label("Status").select_option("failed")
    await page.get_by_role("button", name="Filter").click()
    await expect(row).to_have_count(0)
    await page.get_by_label("Status").select_option("")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("link", name=run_id).click()
    await has_status(page, "completed")
    assert await page.evaluate("sessionStorage.getItem('hangar.apiKey')") == hangar.dev_key
    checked(hangar, requested)
    await page.context.close()


async def test_screenshots_are_inline_and_zoom(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    html = "<h1 style='font:48px sans-serif;color:#0b57d0'>Hello from the box</h1>"
    hangar.script.set(
        turn(calls=[call("write_file", path="hello.html", content=html, id="w1")]),
        turn(calls=[call("browser", action="navigate", url="file:///workspace/hello.html", id="b1")]),
        turn(calls=[call("browser", action="screenshot", id="b2")]),
        turn(calls=[WALKTHROUGH]),
        turn("Took a screenshot."),
    )
    run_id = await create(hangar, {"agent": AGENT, "input": "look"})
    await get(hangar, run_id)
    page, _ = await console(browser, hangar.url, hangar.dev_key, f"#/runs/{run_id}")
    shot = page.locator(".step--function_result img")
    await expect(shot).to_have_count(1, timeout=RUN_LIMIT_MS)
    assert await shot.evaluate("img => img.complete ? img.naturalWidth : 0") > 100
    await shot.focus()
    await page.keyboard.press("Enter")  # zoom from the keyboard
    await expect(page.locator("dialog.zoom img")).to_be_visible()
    await page.screenshot(path=str(tmp_path / "console-zoom.png"))
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog.zoom")).to_have_count(0)
    await page.context.close()


async def test_cancel_a_running_run_and_the_list_follows_live(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    sleeper = turn(calls=[call("shell", command="sleep 60", id="s1")])
    hangar.script.set(sleeper, sleeper)
    elsewhere = await create(hangar, {"agent": AGENT, "input": "wait here"})
    run_id = await create(hangar, {"agent": AGENT, "input": "wait"})
    page, _ = await console(browser, hangar.url, hangar.dev_key, "#/runs")
    row = page.locator(f"#runs tr[data-id='{elsewhere}']")
    await expect(row).to_contain_text("in progress")
    async with httpx.AsyncClient(base_url=hangar.url, headers={"x-goog-api-key": hangar.dev_key}) as client:
        assert (await client.post(f"/v1/interactions/{elsewhere}/cancel")).status_code == 200
    await expect(row).to_contain_text("cancelled", timeout=RUN_LIMIT_MS)  # refreshed, not reloaded

    await page.get_by_role("link", name=run_id).click()
    await expect(page.locator(".step--code_execution_call")).to_be_visible(timeout=RUN_LIMIT_MS)
    await page.get_by_role("button", name="Cancel run").click()
    await has_status(page, "cancelled")
    await expect(page.get_by_role("button", name="Cancel run")).to_be_hidden()
    await page.screenshot(path=str(tmp_path / "console-cancelled.png"), full_page=True)
    assert (await get(hangar, run_id))["status"] == "cancelled"
    await page.context.close()


async def test_answer_a_pending_call_then_send_a_follow_up(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    weather = {"type": "function", "name": "get_weather", "description": "Weather of a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    hangar.script.set(
        turn(calls=[call("write_file", path="city.txt", content="Oslo", id="w1")]),
        turn(calls=[call("get_weather", city="Oslo", id="g1")]),
    )
    first = await create(hangar, {"agent": AGENT, "input": "weather?", "tools": [weather]})
    assert (await get(hangar, first))["status"] == "requires_action"
    page, _ = await console(browser, hangar.url, hangar.dev_key, f"#/runs/{first}")
    await has_status(page, "requires_action")
    hangar.script.set(
        turn(calls=[call("shell", command="cat city.txt", id="s2")]),
        turn(calls=[WALKTHROUGH]),
        turn("Sunny in Oslo."),
    )
    await page.get_by_label("Result for get_weather").fill("sunny")
    await page.screenshot(path=str(tmp_path / "console-requires-action.png"), full_page=True)
    await page.get_by_role("button", name="Send result").click()
    second = await next_run(page, first)
    await has_status(page, "completed")
    await expect(page.locator(".step--code_execution_result")).to_contain_text("Oslo")
    assert "sunny" in str(hangar.script.requests[0]["contents"])
    await expect(page.locator("#run-meta")).to_contain_text(first)

    hangar.script.set(turn(calls=[call("shell", command="cat city.txt && echo again", id="s3")]),
                      turn(calls=[WALKTHROUGH]), turn("Still Oslo."))
    await page.get_by_label("Follow-up message").fill("And tomorrow?")
    await page.get_by_role("button", name="Send follow-up").click()
    third = await next_run(page, second)
    await has_status(page, "completed")
    await expect(page.locator(".step--code_execution_result")).to_contain_text("Oslo")  # same workspace
    await expect(page.locator(".step--model_output")).to_contain_text("Still Oslo.")
    assert "And tomorrow?" in str(hangar.script.requests[0]["contents"])
    runs = [await get(hangar, i) for i in (first, second, third)]
    assert runs[2]["previous_interaction_id"] == second
    assert len({r["environment_id"] for r in runs}) == 1
    await page.screenshot(path=str(tmp_path / "console-follow-up.png"), full_page=True)
    await page.get_by_role("link", name="Runs").click()
    await expect(page.locator(f"#runs tr[data-id='{third}']")).to_contain_text("completed")
    await page.screenshot(path=str(tmp_path / "console-runs.png"), full_page=True)
    await page.context.close()


async def _files_run(hangar: HangarServer) -> str:
    """A run that leaves markdown, CSV, an image, a folder and a hostile file name behind."""
    script = (
        "mkdir -p out && printf 'name,score\\nada,\"1,5\"\\nbob,2\\n' > out/data.csv"
        f" && echo {PNG_1PX} | base64 -d > out/dot.png"
        f" && echo hostile > '{HOSTILE_NAME}'"
    )
    hangar.script.set(
        turn(calls=[call("write_file", path="notes.md", content=NOTES, id="w1")]),
        turn(calls=[call("shell", command=script, id="s1")]),
        turn(calls=[WALKTHROUGH]),
        turn("Files written."),
    )
    run_id = await create(hangar, {"agent": AGENT, "input": "files"})
    done = await get(hangar, run_id)
    assert done["status"] == "completed", done.get("errors")
    environment_id: str = done["environment_id"]  # type: ignore[assignment]
    return environment_id


async def test_file_tree_preview_download_and_upload(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    environment_id = await _files_run(hangar)
    page, requested = await console(browser, hangar.url, hangar.dev_key, "#/environments")
    await page.get_by_role("link", name=environment_id).click()
    tree = page.locator("#file-tree")
    await expect(tree).to_contain_text("notes.md")

    await tree.get_by_role("button", name="notes.md").click()
    preview = page.locator("#preview")
    await expect(preview.locator("h3.preview__name + .md h3")).to_have_text("Notes")
    await expect(preview.locator(".md strong")).to_have_text("bold")
    await expect(preview.locator(".md")).to_contain_text(PWN)  # raw HTML stays text
    assert await preview.locator(".md a").count() == 0

    await tree.locator("summary", has_text="out/").click()
    await tree.get_by_role("button", name="data.csv").click()
    await expect(preview.locator("table.csv th")).to_have_text(["name", "score"])
    await expect(preview.locator("table.csv tbody tr").first.locator("td")).to_have_text(["ada", "1,5"])
    await page.screenshot(path=str(tmp_path / "console-files-csv.png"), full_page=True)
    await tree.get_by_role("button", name="dot.png").click()
    image = preview.locator("img.preview__image")
    await expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    assert await image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 1

    await tree.get_by_role("button", name="data.csv").click()
    async with page.expect_download() as info:
        await preview.get_by_role("button", name="Download data.csv").click()
    download = await info.value
    assert download.suggested_filename == "data.csv"
    saved = await asyncio.to_thread(Path(await download.path()).read_text)
    assert saved.startswith("name,score")
    async with page.expect_download() as info:
        await tree.get_by_role("button", name="Download folder out").click()
    folder = await asyncio.to_thread(Path(await (await info.value).path()).read_bytes)
    with tarfile.open(fileobj=io.BytesIO(folder)) as tar:
        assert any(name.endswith("dot.png") for name in tar.getnames())

    await page.locator("#upload-input").set_input_files(
        [{"name": "picked.txt", "mimeType": "text/plain", "buffer": b"picked by keyboard"}]
    )
    await expect(tree).to_contain_text("picked.txt")
    drop = await page.evaluate_handle(
        """() => { const dt = new DataTransfer();
                   dt.items.add(new File(['dropped bytes'], 'dropped.txt', {type: 'text/plain'}));
                   return dt; }"""
    )
    await page.dispatch_event("#dropzone", "drop", {"dataTransfer": drop})
    await expect(tree).to_contain_text("dropped.txt")
    await expect(page.locator("#upload-status")).to_have_text("Uploaded dropped.txt.")
    async with httpx.AsyncClient(base_url=hangar.url, headers={"x-goog-api-key": hangar.dev_key}) as client:
        media = await client.get(
            f"/v1/environments/{environment_id}/files/dropped.txt", params={"alt": "media"}
        )
        assert media.text == "dropped bytes"
    await tree.get_by_role("button", name="notes.md").click()
    await page.screenshot(path=str(tmp_path / "console-files-uploaded.png"), full_page=True)
    await not_pwned(page)
    checked(hangar, requested)
    await page.context.close()


async def test_hostile_output_and_file_names_are_inert(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    hangar.script.set(
        turn(calls=[call("shell", command=f"echo '{PWN}' && touch '{HOSTILE_NAME}'", id="s1")]),
        turn(calls=[WALKTHROUGH]),
        turn(f"Look: {PWN} and [a link](javascript:window.__pwned=4) and [ok](https://example.invalid/x)"),
    )
    run_id = await create(hangar, {"agent": AGENT, "input": PWN})
    done = await get(hangar, run_id)
    page, _ = await console(browser, hangar.url, hangar.dev_key, f"#/runs/{run_id}", phone=True)
    await has_status(page, "completed")
    answer = page.locator(".step--model_output")
    await expect(answer).to_contain_text(f"Look: {PWN} and [a link](javascript:window.__pwned=4)")
    await expect(page.locator(".step--code_execution_result")).to_contain_text(PWN)
    assert await page.locator("#steps img").count() == 0
    links = page.locator("#steps a")
    await expect(links).to_have_count(1)  # only the https link became one
    await expect(links).to_have_attribute("rel", re.compile("noopener"))
    await page.screenshot(path=str(tmp_path / "console-inert-phone.png"), full_page=True)
    await not_pwned(page)

    await page.goto(f"{hangar.url}/console/#/environments/{done['environment_id']}")
    tree = page.locator("#file-tree")
    await expect(tree.get_by_role("button", name=HOSTILE_NAME)).to_be_visible()
    await tree.get_by_role("button", name=HOSTILE_NAME).click()
    await expect(page.locator("#preview h3")).to_have_text(HOSTILE_NAME)
    await not_pwned(page)
    assert await page.locator("#view img").count() == 0
    await page.context.close()


async def test_the_triggers_tab_hides_when_not_served_and_shows_the_sdk_shape(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.route(re.compile(r".*/v1/triggers\?.*"), lambda route: route.fulfill(
        status=404, json={"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}))
    await page.goto(f"{hangar.url}/console/")
    await page.get_by_label("Key", exact=True).fill(hangar.dev_key)
    await page.get_by_role("button", name="Use key").click()
    await expect(page.locator("#runs")).to_be_visible()
    await expect(page.get_by_role("link", name="Triggers")).to_be_hidden()
    await page.screenshot(path=str(tmp_path / "console-no-triggers.png"))
    await context.close()

    trigger = {"id": "trg_1", "display_name": "nightly <b>report</b>", "status": "active",
               "schedule": "0 3 * * *", "time_zone": "UTC", "interaction": {"agent": AGENT, "input": "go"},
               "next_run_time": "2026-12-02T03:00:00Z", "consecutive_failure_count": 0}
    execution = {"id": "tex_1", "trigger_id": "trg_1", "status": "completed",
                 "interaction_id": "int_from_trigger", "scheduled_time": "2026-12-01T03:00:00Z"}
    patches: list[str] = []

    async def served(route: Route) -> None:
        request = route.request
        if request.method == "PATCH":
            patches.append(request.post_data or "")
            await route.fulfill(json={**trigger, "status": "paused"})
        elif "/executions" in request.url:
            await route.fulfill(json={"executions": [execution]})
        else:
            await route.fulfill(json={"triggers": [trigger]})

    context = await browser.new_context()
    page = await context.new_page()
    await page.route(re.compile(r".*/v1/triggers.*"), served)
    await page.goto(f"{hangar.url}/console/")
    await page.get_by_label("Key", exact=True).fill(hangar.dev_key)
    await page.get_by_role("button", name="Use key").click()
    await page.get_by_role("link", name="Triggers").click()
    card = page.locator("#triggers li.trigger")
    await expect(card).to_contain_text("nightly <b>report</b>")
    await card.locator("summary", has_text="Executions").click()
    link = card.get_by_role("link", name="int_from_trigger")
    await expect(link).to_have_attribute("href", "#/runs/int_from_trigger")
    async with page.expect_request(lambda r: r.method == "PATCH") as patch:
        await card.get_by_role("button", name="Pause").click()
    assert (await patch.value).post_data == '{"status":"paused"}'
    assert patches == ['{"status":"paused"}']
    await page.screenshot(path=str(tmp_path / "console-triggers.png"), full_page=True)
    await context.close()


async def test_the_triggers_tab_drives_real_triggers(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    """Against the server's own /v1/triggers: the console lists a trigger, pauses and resumes it (the
    server's trigger changes), and links an execution to the run it started."""
    hangar.script.set(turn(calls=[WALKTHROUGH]), turn("Triggered."))
    name = f"nightly <b>{secrets.token_hex(3)}</b>"
    body = {"display_name": name, "schedule": "0 3 * * *", "time_zone": "UTC",
            "interaction": {"agent": AGENT, "input": "scheduled work"}}
    async with httpx.AsyncClient(base_url=hangar.url, headers={"x-goog-api-key": hangar.dev_key}) as client:
        trigger = (await client.post("/v1/triggers", json=body)).raise_for_status().json()
        execution = (await client.post(f"/v1/triggers/{trigger['id']}/executions")).raise_for_status().json()
        try:
            page, requested = await console(browser, hangar.url, hangar.dev_key)
            await page.get_by_role("link", name="Triggers").click()
            card = page.locator("#triggers li.trigger", has_text=name)
            await expect(card).to_contain_text(name)  # as text, not markup

            await card.get_by_role("button", name="Pause").click()
            await expect(card.get_by_role("button", name="Resume")).to_be_visible()
            assert (await client.get(f"/v1/triggers/{trigger['id']}")).json()["status"] == "paused"
            await card.get_by_role("button", name="Resume").click()
            await expect(card.get_by_role("button", name="Pause")).to_be_visible()
            assert (await client.get(f"/v1/triggers/{trigger['id']}")).json()["status"] == "active"

            run_id = execution["interaction_id"]
            assert run_id, execution
            await card.locator("summary", has_text="Executions").click()
            link = card.get_by_role("link", name=run_id)
            await expect(link).to_have_attribute("href", f"#/runs/{run_id}")
            await page.screenshot(path=str(tmp_path / "console-real-triggers.png"), full_page=True)
            await link.click()
            await expect(page.locator("#run-title")).to_contain_text(run_id)
            await has_status(page, "completed")
            await not_pwned(page)
            checked(hangar, requested)
        finally:
            await client.delete(f"/v1/triggers/{trigger['id']}")


UNLABELLED = """() => [...document.querySelectorAll('#view :is(input, select, textarea, button)')]
  .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute('aria-label') && !c.textContent.trim())
  .map((c) => c.outerHTML)"""


async def test_start_a_run_with_input_files_from_the_keyboard(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    hangar.script.set(
        turn(calls=[call("shell", command="cat brief.txt", id="s1")]),
        turn(calls=[WALKTHROUGH]),
        turn("Read the brief."),
    )
    page, requested = await console(browser, hangar.url, hangar.dev_key, "#/agents")
    await expect(page.get_by_label("Agent", exact=True)).to_have_value(AGENT)
    assert await page.evaluate(UNLABELLED) == []
    await page.get_by_label("Task").focus()
    await page.keyboard.type("Summarise the brief")
    await page.get_by_label("Input files (uploaded to the workspace first)").set_input_files(
        [{"name": "brief.txt", "mimeType": "text/plain", "buffer": b"brief-from-the-console"}]
    )
    await page.get_by_role("button", name="Start run").focus()
    await page.keyboard.press("Enter")
    await has_status(page, "completed")
    await expect(page.locator(".step--code_execution_result")).to_contain_text("brief-from-the-console")
    assert await page.evaluate(UNLABELLED) == []
    await page.get_by_role("link", name=re.compile("^env_")).click()
    await expect(page.locator("#file-tree")).to_contain_text("brief.txt")
    assert await page.evaluate(UNLABELLED) == []
    await page.screenshot(path=str(tmp_path / "console-input-files.png"), full_page=True)
    checked(hangar, requested)
    await page.context.close()
