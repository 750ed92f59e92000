"""The sandbox's one Chromium, driven through Playwright and supervised.

Chromium starts on the first action and is kept: one browser, one context, one current page whose
state (URL, DOM, cookies, history) survives between calls. Actions are serialized. Before each
action the supervisor checks that the browser is connected and the page alive; after an action
that timed out it probes the page with a cheap call, and when that hangs too the browser is
considered wedged. A crashed or wedged browser is restarted and the caller is told
(``restarted=True``, or the error message) that the page state was lost.

Playwright is imported lazily so that sandboxd starts fast when no browser is ever used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from runtime.errors import BrowserError, HangarError, Timeout
from runtime.sandboxd import browser_actions
from runtime.sandboxd.browser_errors import is_playwright_timeout, looks_dead, map_error
from runtime.sandboxd.protocol import BrowserAction, BrowserResult

if TYPE_CHECKING:
    from playwright.async_api import Browser as PWBrowser
    from playwright.async_api import BrowserContext, Download, Page, Playwright, ProxySettings

DEFAULT_EXECUTABLE = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the container is the sandbox; Chromium's needs user namespaces we drop
    "--disable-gpu",
    "--disable-dev-shm-usage",  # /dev/shm is small in containers
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
    "--disable-breakpad",
    "--mute-audio",
]
VIEWPORT_SIZE = (1280, 800)
PROBE_S = 2.0
"""How long the liveness probe after a timeout may take before the browser counts as wedged."""
GRACE_S = 2.0
"""Extra time past ``timeout_s`` before the supervisor stops waiting for Playwright."""
STOP_S = 5.0
DOWNLOAD_S = 30.0
"""How long an action that started a download waits for the file to be saved."""
RETRY_AFTER_CRASH = frozenset({"navigate", "state", "content", "screenshot"})
"""Actions that do not depend on page state, so they are re-run once on a fresh browser."""


class _Crashed(Exception):
    """The browser or page died during an action (internal signal)."""


class Browser:
    """One supervised Chromium. ``run`` raises only :class:`~runtime.errors.HangarError`."""

    def __init__(self, workspace: str, *, executable: str | None = None) -> None:
        self.workspace = workspace
        self.executable = executable or os.environ.get("HANGAR_CHROMIUM") or DEFAULT_EXECUTABLE
        self._lock = asyncio.Lock()
        self._pw: Playwright | None = None
        self._browser: PWBrowser | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._crashed = False
        self._opened: list[Page] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def state(self) -> Literal["stopped", "running", "crashed"]:
        if self._browser is None:
            return "stopped"
        if self._crashed or not self._browser.is_connected():
            return "crashed"
        return "running"

    @property
    def downloads_dir(self) -> Path:
        return Path(self.workspace) / "downloads"

    async def run(self, action: BrowserAction) -> BrowserResult:
        """Run one action on the current page.

        Raises :class:`InputError` (bad URL or selector), :class:`~runtime.errors.NotFound` (no
        element matched in time), :class:`Timeout` and :class:`BrowserError` (load failed, browser
        crashed during the action).
        """
        async with self._lock:
            if action.action == "close":
                await self._stop()
                return BrowserResult(url="about:blank", title="")
            restarted = await self._ensure_alive()
            try:
                return await self._run_and_finish_downloads(action, restarted=restarted)
            except _Crashed as e:
                await self._restart()
                if action.action not in RETRY_AFTER_CRASH:
                    raise BrowserError(
                        f"the browser crashed during '{action.action}' ({e}); it was restarted "
                        "and the page state was lost: navigate again"
                    ) from e
                try:
                    return await self._run_and_finish_downloads(action, restarted=True)
                except _Crashed as again:
                    raise BrowserError(f"the browser crashed twice during '{action.action}' ({again})",
                                       retryable=True) from again

    async def _run_and_finish_downloads(self, action: BrowserAction, *, restarted: bool) -> BrowserResult:
        try:
            return await self._run_once(action, restarted=restarted)
        finally:
            # A click or navigation that started a download returns once the file is saved.
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=DOWNLOAD_S)

    async def close(self) -> None:
        """Stop Chromium and the Playwright driver. Safe to call more than once."""
        async with self._lock:
            await self._stop()

    # --- one action ----------------------------------------------------------------------------

    async def _run_once(self, action: BrowserAction, *, restarted: bool) -> BrowserResult:
        self._switch_to_opened()
        page = self._current_page()
        handler = browser_actions.HANDLERS[action.action]
        try:
            outcome = await asyncio.wait_for(
                handler(page, action, self.workspace), action.timeout_s + GRACE_S
            )
        except HangarError:
            raise
        except Exception as e:
            if self._is_dead(page) or looks_dead(e):
                raise _Crashed(str(e).splitlines()[0] if str(e) else type(e).__name__) from e
            if is_playwright_timeout(e):
                raise await self._after_timeout(action, e) from e
            raise map_error(e, action) from e
        if self._switch_to_opened() and self._page is not None:  # a popup or new tab opened
            page = self._page
            await browser_actions.settle(page, action.timeout_s)
        url, title = await self._url_title(page)
        return BrowserResult(
            url=url, title=title, status=outcome.status, content=outcome.content,
            truncated=outcome.truncated, screenshot_png=outcome.screenshot_png, restarted=restarted,
        )

    async def _after_timeout(self, action: BrowserAction, cause: BaseException) -> HangarError:
        """Tell a slow page from a wedged browser; restart the latter. Returns the error to raise."""
        error = map_error(cause, action)
        if await self._probe():
            return error
        await self._restart()
        return Timeout(
            f"{error.message}; the browser stopped responding and was restarted, "
            "the page state was lost: navigate again"
        )

    async def _probe(self) -> bool:
        page = self._page
        if page is None or self._is_dead(page):
            return False
        try:
            await asyncio.wait_for(page.evaluate("1"), PROBE_S)
        except Exception:
            return False
        return True

    async def _url_title(self, page: Page) -> tuple[str, str]:
        try:
            title = await asyncio.wait_for(page.title(), PROBE_S)
        except Exception:
            title = ""  # mid-navigation or a busy page: the URL is still right
        return page.url, title

    # --- lifecycle -----------------------------------------------------------------------------

    def _current_page(self) -> Page:
        assert self._page is not None, "_ensure_alive() opens a page before any action"
        return self._page

    def _is_dead(self, page: Page) -> bool:
        browser = self._browser
        return self._crashed or browser is None or not browser.is_connected() or page.is_closed()

    async def _ensure_alive(self) -> bool:
        """Start Chromium if needed; restart it if it died. True when page state was lost."""
        if self._browser is None:
            await self._start()
            return False
        if self._page is not None and not self._is_dead(self._page):
            return False
        await self._restart()
        return True

    async def _start(self) -> None:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import async_playwright

        try:
            self._pw = await async_playwright().start()
            self._browser = await self._pw.chromium.launch(
                executable_path=self.executable, headless=True, args=CHROMIUM_ARGS, proxy=_proxy(),
                handle_sigint=False, handle_sigterm=False, handle_sighup=False,
            )
            self._browser.on("disconnected", self._on_disconnected)
            self._context = await self._browser.new_context(
                viewport={"width": VIEWPORT_SIZE[0], "height": VIEWPORT_SIZE[1]}, accept_downloads=True
            )
            self._context.on("page", self._on_new_page)
            first = await self._context.new_page()
            if first not in self._opened:  # the "page" event may come after new_page() returns
                self._on_new_page(first)
            self._switch_to_opened()
        except (PlaywrightError, OSError) as e:
            await self._stop()
            raise BrowserError(f"could not start Chromium ({self.executable}): {e}") from e
        self._crashed = False

    async def _restart(self) -> None:
        await self._stop()
        await self._start()

    async def _stop(self) -> None:
        browser, pw = self._browser, self._pw
        self._pw = self._browser = self._context = self._page = None
        self._opened.clear()
        self._crashed = False
        if browser is not None:
            browser.remove_listener("disconnected", self._on_disconnected)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), STOP_S)
        if pw is not None:
            # Stopping the driver also kills a Chromium that ignored close().
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pw.stop(), STOP_S)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _on_disconnected(self, _: PWBrowser) -> None:
        self._crashed = True

    def _on_new_page(self, page: Page) -> None:
        """A page opened in the context (ours, a popup, a new tab): watched now, current later."""
        page.on("crash", self._on_page_crash)
        page.on("close", self._on_page_close)
        page.on("download", self._on_download)
        self._opened.append(page)

    def _switch_to_opened(self) -> bool:
        """Make the newest page opened since the last call current. Only between actions, so an
        action never moves to another tab halfway."""
        opened = [p for p in self._opened if not p.is_closed()]
        self._opened.clear()
        if not opened or opened[-1] is self._page:
            return False
        self._page = opened[-1]
        return True

    def _on_page_crash(self, page: Page) -> None:
        if page is self._page:
            self._crashed = True

    def _on_page_close(self, page: Page) -> None:
        # A closed popup hands back to the previous tab; closing the last one is a crash.
        if page is not self._page or self._context is None:
            return
        alive = [p for p in self._context.pages if not p.is_closed()]
        if alive:
            self._page = alive[-1]

    def _on_download(self, download: Download) -> None:
        task = asyncio.get_running_loop().create_task(self._save_download(download))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _save_download(self, download: Download) -> None:
        name = Path(download.suggested_filename).name
        target = self.downloads_dir / (name if name not in ("", ".", "..") else "download")
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.downloads_dir.mkdir, parents=True, exist_ok=True)
            await download.save_as(target)


def _proxy() -> ProxySettings | None:
    """The box's egress proxy (the in-box relay) when it has one: Chromium then resolves no name
    itself and every page load goes through the proxy's checks."""
    server = os.environ.get("HTTPS_PROXY") or os.environ.get("HTTP_PROXY")
    if not server:
        return None
    return {"server": server, "bypass": os.environ.get("NO_PROXY", "localhost,127.0.0.1")}
