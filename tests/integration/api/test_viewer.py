"""The run viewer page in a real headless Chromium against a real Hangar server: agent runs in real
Docker boxes with the scripted fake Gemini, the page driving the public API like a person would."""

from __future__ import annotations

import asyncio
import re
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
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WALKTHROUGH = call("update_artifact", artifact="walkthrough", content="# W", id="wt")
XSS = "<img src=x onerror=alert(1)>"
RUN_LIMIT_MS = 90_000


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


async def viewer(browser: Browser, hangar: HangarServer, fragment: str = "") -> tuple[Page, list[str]]:
    """A fresh page (own session storage) on the viewer; returns it and the URLs it requests."""
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("dialog", lambda dialog: pytest.fail(f"the page opened a dialog: {dialog.message}"))
    await page.goto(f"{hangar.url}/viewer{fragment}")
    return page, requested


async def enter_key(page: Page, key: str) -> None:
    await page.get_by_label("Key", exact=True).fill(key)
    await page.get_by_role("button", name="Use key").click()


async def create(hangar: HangarServer, body: dict[str, object]) -> str:
    async with httpx.AsyncClient(base_url=hangar.url, headers={"x-goog-api-key": hangar.dev_key}) as client:
        response = await client.post("/v1/interactions", json=body)
        response.raise_for_status()
        interaction_id: str = response.json()["id"]
        return interaction_id


async def wait_status(hangar: HangarServer, interaction_id: str, status: str) -> None:
    async with httpx.AsyncClient(base_url=hangar.url, headers={"x-goog-api-key": hangar.dev_key}) as client:
        response = await client.get(f"/v1/interactions/{interaction_id}", params={"stream": "true"})
        assert response.status_code == 200  # the stream ends after interaction.completed
        final = await client.get(f"/v1/interactions/{interaction_id}")
        assert final.json()["status"] == status, final.json().get("errors")


def only_loopback(hangar: HangarServer, requested: list[str]) -> None:
    outside = [url for url in requested if not url.startswith(hangar.url)]
    assert outside == [], f"the page reached outside the server: {outside}"


async def test_start_an_agent_run_and_follow_it_live(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    hangar.script.set(
        turn(
            thought="List the files, then write the walkthrough.",
            calls=[call("shell", command="echo viewer-says-$((6*7)) && uname -s", id="s1")],
        ),
        turn(calls=[WALKTHROUGH]),
        turn("## Done\n\nThe shell printed **viewer-says-42**:\n\n- ran `echo`\n- wrote the walkthrough"),
    )
    page, requested = await viewer(browser, hangar)
    await enter_key(page, hangar.dev_key)
    await page.get_by_text("Start a new interaction").click()
    await page.get_by_label("Agent").fill("antigravity")
    await page.get_by_label("Task").fill("Say 42 from the shell")
    await page.get_by_role("button", name="Start", exact=True).click()

    await expect(page.locator("#run-status")).to_have_text("completed", timeout=RUN_LIMIT_MS)
    assert re.search(r"#.+", page.url), "the page should deep-link to the new interaction"
    await page.screenshot(path=str(tmp_path / "viewer-run.png"), full_page=True)
    await page.emulate_media(color_scheme="dark")
    await page.screenshot(path=str(tmp_path / "viewer-run-dark.png"), full_page=True)
    await page.emulate_media(color_scheme="light")
    steps = page.locator("#steps > li")
    await expect(steps).to_have_count(7)  # input, thought, code, output, tool call, tool result, answer
    code = page.locator(".step--code_execution_call")
    await expect(code.locator("pre")).to_have_text("echo viewer-says-$((6*7)) && uname -s")
    await expect(code.locator(".tag")).to_have_text("bash")
    await expect(page.locator(".step--code_execution_result pre")).to_contain_text("viewer-says-42")
    await expect(page.locator(".step--code_execution_result pre")).to_contain_text("Linux")
    await expect(page.locator(".step--function_call .step__title")).to_have_text("update_artifact")
    answer = page.locator(".step--model_output")
    await expect(answer.locator("h4")).to_have_text("Done")
    await expect(answer.locator("strong")).to_have_text("viewer-says-42")
    await expect(answer.locator("li")).to_have_count(2)
    await expect(page.locator(".step--thought details")).not_to_have_attribute("open", "")
    await expect(page.locator("#run-usage")).to_contain_text("Total tokens")
    assert await page.evaluate("sessionStorage.getItem('hangar.apiKey')") == hangar.dev_key
    assert all(hangar.dev_key not in url for url in requested), "the key must never be in a URL"
    only_loopback(hangar, requested)
    await page.context.close()


async def test_resumes_from_the_last_event_after_a_drop(hangar: HangarServer, browser: Browser) -> None:
    hangar.script.set(
        turn(calls=[call("shell", command="sleep 3 && echo resumed-ok", id="s1")]),
        turn(calls=[WALKTHROUGH]),
        turn("All good."),
    )
    streams: list[str] = []
    kept: list[str] = []
    resumed = asyncio.Event()

    async def drop_twice(route: Route) -> None:
        streams.append(route.request.url)
        if len(streams) == 1:  # the server closes after four events...
            response = await route.fetch()
            events = [frame for frame in (await response.text()).split("\n\n") if "data:" in frame]
            kept.extend(events[:4])
            await route.fulfill(response=response, body="\n\n".join(kept) + "\n\n")
        elif len(streams) == 2:  # ...then the network fails outright
            await route.abort("connectionreset")
        else:
            resumed.set()
            await route.continue_()

    interaction_id = await create(hangar, {"agent": "antigravity", "input": "echo", "background": True})
    page, _ = await viewer(browser, hangar, f"#{interaction_id}")
    await page.route(re.compile(r".*/interactions/[^/?]+\?.*stream=true.*"), drop_twice)
    await enter_key(page, hangar.dev_key)
    await asyncio.wait_for(resumed.wait(), RUN_LIMIT_MS / 1000)
    await expect(page.locator("#run-status")).to_have_text("completed", timeout=RUN_LIMIT_MS)
    await expect(page.locator("#steps > li")).to_have_count(6)
    await expect(page.locator(".step--code_execution_result pre")).to_contain_text("resumed-ok")
    await expect(page.locator(".step--model_output")).to_have_text(re.compile("All good"))
    last_kept = re.search(r"^id: (\d+)$", kept[-1], re.MULTILINE)
    assert last_kept is not None
    assert "last_event_id" not in streams[0]
    assert f"last_event_id={last_kept[1]}" in streams[1]
    assert f"last_event_id={last_kept[1]}" in streams[2]
    await page.context.close()


async def test_wrong_key_and_unknown_id_show_clear_messages(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    page, _ = await viewer(browser, hangar, "#int_does_not_matter")
    await enter_key(page, "hk_wrong_key")
    await expect(page.get_by_role("alert")).to_contain_text("API key was not accepted (401)")
    await expect(page.get_by_label("Key", exact=True)).to_be_visible()  # asked again
    await page.screenshot(path=str(tmp_path / "viewer-401.png"))

    await enter_key(page, hangar.dev_key)
    await page.get_by_label("Interaction id").fill("int_no_such_run")
    await page.get_by_role("button", name="Open", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("“int_no_such_run” was not found (404)")
    await page.context.close()


async def test_model_output_is_rendered_as_text_never_as_html(
    hangar: HangarServer, browser: Browser, tmp_path: Path
) -> None:
    hangar.script.set(
        turn(calls=[call("shell", command=f"echo '{XSS}'", id="s1")]),
        turn(calls=[WALKTHROUGH]),
        turn(f"Look: {XSS} and [a link](javascript:alert(2)) and `{XSS}`"),
    )
    interaction_id = await create(hangar, {"agent": "antigravity", "input": XSS, "background": True})
    await wait_status(hangar, interaction_id, "completed")
    page, _ = await viewer(browser, hangar, f"#{interaction_id}")
    await enter_key(page, hangar.dev_key)
    await expect(page.locator("#run-status")).to_have_text("completed", timeout=RUN_LIMIT_MS)
    answer = page.locator(".step--model_output")
    await expect(answer).to_contain_text(f"Look: {XSS} and [a link](javascript:alert(2))")
    await expect(page.locator(".step--user_input")).to_contain_text(XSS)
    await expect(page.locator(".step--code_execution_result")).to_contain_text(XSS)
    assert await page.locator("#steps img").count() == 0
    assert await page.locator("#steps a").count() == 0  # only http(s) links become links
    await page.set_viewport_size({"width": 390, "height": 844})  # a phone
    await page.screenshot(path=str(tmp_path / "viewer-text-only-phone.png"), full_page=True)
    await page.context.close()


async def test_browser_screenshots_are_shown_as_images(
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
    interaction_id = await create(hangar, {"agent": "antigravity", "input": "look", "background": True})
    await wait_status(hangar, interaction_id, "completed")
    page, _ = await viewer(browser, hangar, f"#{interaction_id}")
    await enter_key(page, hangar.dev_key)
    await expect(page.locator("#run-status")).to_have_text("completed", timeout=RUN_LIMIT_MS)
    await expect(page.locator(".tag--error")).to_have_count(0)
    shot = page.locator(".step--function_result img")
    await expect(shot).to_have_count(1)
    await expect(shot).to_have_attribute("src", re.compile(r"^data:image/(png|jpeg);base64,"))
    width = await shot.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert width > 100, "the screenshot should decode as an image"
    await page.screenshot(path=str(tmp_path / "viewer-screenshot-step.png"), full_page=True)
    await page.context.close()
