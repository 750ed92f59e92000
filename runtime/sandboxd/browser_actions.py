"""One function per browser action, each run against the current Playwright page.

Every handler takes the page, the validated action and the workspace, honours ``action.timeout_s``
through Playwright's own timeouts, and returns an :class:`Outcome` (the action-specific part of a
:class:`~runtime.sandboxd.protocol.BrowserResult`). Playwright errors propagate; the caller
(:mod:`runtime.sandboxd.browser`) maps them to Hangar's error tree.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from runtime.errors import InputError, PathOutsideWorkspace
from runtime.sandboxd import page_text
from runtime.sandboxd.protocol import (
    Click,
    History,
    Navigate,
    PageContent,
    PageState,
    Press,
    Screenshot,
    Scroll,
    TypeText,
    WaitFor,
)

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page, Response

# After an action that may start a navigation (click, Enter), wait this long at most for the new
# document's load event, so that a following ``content`` reads the new page. Best effort.
SETTLE_S = 5.0
ERROR_PAGE_S = 1.0

# Scroll the window; when it cannot move (an app whose content scrolls inside a container),
# scroll the nearest scrollable element under the viewport's centre instead. Resolve after the
# next frames, so scroll handlers (lazy loading, infinite lists) have run when the result returns.
_SCROLL_JS = """
async ([dx, dy]) => {
  const x = scrollX, y = scrollY;
  scrollBy({left: dx, top: dy, behavior: "instant"});
  if (scrollX === x && scrollY === y && (dx || dy)) {
    let el = document.elementFromPoint(innerWidth / 2, innerHeight / 2);
    for (; el; el = el.parentElement) {
      const s = getComputedStyle(el);
      const canY = dy && /(auto|scroll)/.test(s.overflowY) && el.scrollHeight > el.clientHeight;
      const canX = dx && /(auto|scroll)/.test(s.overflowX) && el.scrollWidth > el.clientWidth;
      if (canX || canY) { el.scrollBy({left: dx, top: dy, behavior: "instant"}); break; }
    }
  }
  for (let i = 0; i < 2; i++) await new Promise((done) => requestAnimationFrame(done));
}
"""


_OPENS_TAB_JS = """
el => !!el.closest('a[target]:not([target="_self"]):not([target="_parent"]):not([target="_top"])')
"""


@dataclass
class Outcome:
    status: int | None = None
    content: str | None = None
    truncated: bool = False
    screenshot_png: str | None = None


def ms(seconds: float) -> float:
    return seconds * 1000


def check_url(url: str, workspace: str) -> str:
    """Allow http(s), ``about:blank`` and ``file://`` inside the workspace; raise :class:`InputError`."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and parts.netloc:
        return url.strip()
    if url.strip() == "about:blank":
        return "about:blank"
    if scheme == "file":
        root = os.path.realpath(workspace)
        path = os.path.realpath(unquote(parts.path))
        if parts.netloc not in ("", "localhost") or os.path.commonpath([root, path]) != root:
            raise PathOutsideWorkspace(f"file URL {url!r} is outside the workspace {root}")
        return url.strip()
    hint = f" (did you mean 'https://{url.strip()}'?)" if not parts.scheme or "." in parts.scheme else ""
    raise InputError(f"cannot open {url!r}: only http://, https://, file:// inside the workspace "
                     f"and about:blank are allowed{hint}")


async def settle(page: Page, timeout_s: float) -> None:
    """Wait briefly for a navigation the last input may have started; never raises a timeout."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):
        await page.wait_for_load_state("load", timeout=ms(min(SETTLE_S, timeout_s)))


def status_of(response: Response | None) -> int | None:
    # file:// and about: documents have no HTTP status (Playwright reports 0 or no response).
    return response.status if response is not None and response.status else None


async def navigate(page: Page, action: Navigate, workspace: str) -> Outcome:
    from playwright.async_api import Error as PlaywrightError

    url = check_url(action.url, workspace)
    try:
        response = await page.goto(url, wait_until=action.wait_until, timeout=ms(action.timeout_s))
    except PlaywrightError as e:
        if "net::ERR_" in str(e):
            await _error_page_committed(page)
        raise
    return Outcome(status=status_of(response))


async def _error_page_committed(page: Page) -> None:
    """Wait for Chromium's error page, which commits ~0.1 s after a failed load is reported.

    Otherwise that late commit interrupts the next navigation ("interrupted by another navigation
    to chrome-error://chromewebdata/").
    """
    from playwright.async_api import Frame
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    def is_error_page(frame: Frame) -> bool:
        return frame == page.main_frame and frame.url.startswith("chrome-error://")

    if page.url.startswith("chrome-error://"):
        return
    with contextlib.suppress(PlaywrightTimeout):
        await page.wait_for_event("framenavigated", is_error_page, timeout=ms(ERROR_PAGE_S))


async def click_target(page: Page, action: Click) -> Locator:
    """The element to click: the first match of the selector, or of the visible text (exact first)."""
    if (action.selector is None) == (action.text is None):
        raise InputError("click needs exactly one of 'selector' or 'text'")
    if action.selector is not None:
        return page.locator(action.selector).first
    exact = page.get_by_text(action.text or "", exact=True).filter(visible=True)
    if await exact.count():
        return exact.first
    return page.get_by_text(action.text or "").filter(visible=True).first


async def click(page: Page, action: Click, workspace: str) -> Outcome:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    target = await click_target(page, action)
    timeout = ms(action.timeout_s)
    opens_tab = await target.evaluate(_OPENS_TAB_JS, timeout=timeout)
    tabs = len(page.context.pages)
    await target.click(timeout=timeout)
    if opens_tab and len(page.context.pages) == tabs:
        # The new tab is announced after the click returns; wait so the result shows it.
        with contextlib.suppress(PlaywrightTimeout):
            await page.context.wait_for_event("page", timeout=ms(min(SETTLE_S, action.timeout_s)))
    await settle(page, action.timeout_s)
    return Outcome()


async def type_text(page: Page, action: TypeText, workspace: str) -> Outcome:
    field = page.locator(action.selector).first
    timeout = ms(action.timeout_s)
    if action.clear:
        await field.fill(action.text, timeout=timeout)
    else:
        await field.press("Control+End", timeout=timeout)
        await page.keyboard.insert_text(action.text)
    if action.submit:
        await field.press("Enter", timeout=timeout)
        await settle(page, action.timeout_s)
    return Outcome()


async def press(page: Page, action: Press, workspace: str) -> Outcome:
    if action.selector is not None:
        await page.locator(action.selector).first.press(action.key, timeout=ms(action.timeout_s))
    else:
        await page.keyboard.press(action.key)
    await settle(page, action.timeout_s)
    return Outcome()


async def scroll(page: Page, action: Scroll, workspace: str) -> Outcome:
    await page.evaluate(_SCROLL_JS, [action.dx, action.dy])
    return Outcome()


async def history(page: Page, action: History, workspace: str) -> Outcome:
    timeout = ms(action.timeout_s)
    from playwright.async_api import Error as PlaywrightError

    moves = {"back": page.go_back, "forward": page.go_forward, "reload": page.reload}
    try:
        response = await moves[action.action](timeout=timeout)
    except PlaywrightError as e:
        if "net::ERR_" in str(e):
            await _error_page_committed(page)
        raise
    return Outcome(status=status_of(response))


async def state(page: Page, action: PageState, workspace: str) -> Outcome:
    return Outcome()


async def content(page: Page, action: PageContent, workspace: str) -> Outcome:
    if action.format == "html":
        text = await page.content()
    elif action.format == "markdown":
        text = page_text.normalize_markdown(await page.evaluate(page_text.MARKDOWN_JS))
    else:
        body = await page.evaluate("() => (document.body || document.documentElement).innerText")
        text = page_text.normalize_text(body)
    text, truncated = page_text.truncate(text, action.max_chars)
    return Outcome(content=text, truncated=truncated)


async def screenshot(page: Page, action: Screenshot, workspace: str) -> Outcome:
    png = await page.screenshot(type="png", full_page=action.full_page, timeout=ms(action.timeout_s))
    return Outcome(screenshot_png=base64.b64encode(png).decode("ascii"))


async def wait(page: Page, action: WaitFor, workspace: str) -> Outcome:
    await page.locator(action.selector).first.wait_for(state=action.state, timeout=ms(action.timeout_s))
    return Outcome()


Handler = Callable[[Any, Any, str], Awaitable[Outcome]]

HANDLERS: dict[str, Handler] = {
    "navigate": navigate,
    "click": click,
    "type": type_text,
    "press": press,
    "scroll": scroll,
    "back": history,
    "forward": history,
    "reload": history,
    "state": state,
    "content": content,
    "screenshot": screenshot,
    "wait": wait,
}
"""Page-level actions by name; ``close`` is handled by the browser itself."""
