"""The supervised browser against Debian's Chromium on the host, pages served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import socket
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runtime.errors import BrowserError, InputError, NotFound, Timeout
from runtime.sandboxd.browser import Browser
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

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (make host-tools)"),
]

PAGES = {
    "/index.html": """<!doctype html><title>Index</title><body>
<h1>Welcome   home</h1>
<p>Some <b>bold</b> text and a <a href="/page2.html">second page</a>.</p>
<h2>Things</h2>
<ul><li>apple</li><li>pear<ul><li>small pear</li></ul></li></ul>
<ol><li>first</li><li>second</li></ol>
<pre><code>x = 1
if x:
    print(x)</code></pre>
<div style="display:none">secret hidden text</div>
<script>var ignored = "script text";</script>
</body>""",
    "/page2.html": "<!doctype html><title>Page two</title><h1>Second</h1><a href='/index.html'>home</a>",
    "/popup.html": "<!doctype html><title>Opener</title><a href='/page2.html' target='_blank'>new tab</a>",
    "/click.html": """<!doctype html><title>Click</title>
<button id="btn" onclick="this.textContent = 'Clicked'">Press me</button>
<button onclick="document.getElementById('out').textContent = 'hello there'">Say hello</button>
<p id="out">nothing yet</p>""",
    "/form.html": """<!doctype html><title>Form</title>
<form action="/result" method="get"><input id="q" name="q" value="old"><button>Go</button></form>""",
    "/press.html": """<!doctype html><title>Press</title><input id="k">
<script>document.addEventListener("keydown", (e) => { document.title = "key:" + e.key; });</script>""",
    "/long.html": """<!doctype html><title>y=0</title><div style="height:5000px">tall</div>
<script>addEventListener("scroll", () => { document.title = "y=" + Math.round(scrollY); });</script>""",
    "/delayed.html": """<!doctype html><title>Delayed</title><div id="root"></div>
<script>setTimeout(() => { root.innerHTML = '<p id="late">arrived</p>'; }, 300);</script>""",
    "/download.html": "<!doctype html><title>Files</title><a href='/report.csv'>report</a>",
    "/spin.html": "<!doctype html><title>Spin</title><script>while (true) {}</script>",
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/report.csv":
            data = b"a,b\n1,2\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Disposition", 'attachment; filename="report.csv"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if path == "/result":
            body, status = f"<title>Result</title><p>You searched: {query}</p>", 200
        elif path in PAGES:
            body, status = PAGES[path], 200
        else:
            body, status = "<title>Missing</title>not here", 404
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="module")
async def browser(workspace: Path) -> AsyncIterator[Browser]:
    b = Browser(str(workspace), executable=CHROMIUM)
    yield b
    await b.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


async def test_navigate_reports_status_url_and_title(browser: Browser, site: str) -> None:
    result = await browser.run(Navigate(url=f"{site}/index.html"))
    assert (result.status, result.url, result.title) == (200, f"{site}/index.html", "Index")
    assert browser.state == "running"
    missing = await browser.run(Navigate(url=f"{site}/nope"))
    assert (missing.status, missing.title) == (404, "Missing")


async def test_click_by_selector_and_by_text(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/click.html"))
    await browser.run(Click(selector="#btn"))
    await browser.run(Click(text="Say hello"))
    text = (await browser.run(PageContent())).content
    assert text == "Clicked Say hello\n\nhello there"


async def test_click_needs_exactly_one_target(browser: Browser) -> None:
    with pytest.raises(InputError, match="exactly one"):
        await browser.run(Click())
    with pytest.raises(InputError, match="exactly one"):
        await browser.run(Click(selector="#a", text="a"))


async def test_a_new_tab_becomes_the_current_page(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/popup.html"))
    result = await browser.run(Click(text="new tab"))
    assert (result.url, result.title) == (f"{site}/page2.html", "Page two")
    assert (await browser.run(PageContent())).content is not None


async def test_type_and_submit_a_form(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/form.html"))
    result = await browser.run(TypeText(selector="#q", text="hello", submit=True))
    assert result.url == f"{site}/result?q=hello"
    assert (await browser.run(PageContent())).content == "You searched: q=hello"


async def test_type_without_clear_appends(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/form.html"))
    await browser.run(TypeText(selector="#q", text="-new", clear=False, submit=True))
    assert (await browser.run(PageState())).url == f"{site}/result?q=old-new"


async def test_press_a_key_on_the_page_and_on_an_element(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/press.html"))
    assert (await browser.run(Press(key="Escape"))).title == "key:Escape"
    assert (await browser.run(Press(key="a", selector="#k"))).title == "key:a"
    with pytest.raises(InputError, match="unknown key"):
        await browser.run(Press(key="NoSuchKey"))


async def test_scroll_moves_the_window(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/long.html"))
    assert (await browser.run(Scroll(dy=700))).title == "y=700"
    assert (await browser.run(Scroll(dy=-300))).title == "y=400"


async def test_back_and_forward(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/index.html"))
    await browser.run(Click(text="second page"))
    assert (await browser.run(PageState())).title == "Page two"
    back = await browser.run(History(action="back"))
    assert (back.url, back.title) == (f"{site}/index.html", "Index")
    forward = await browser.run(History(action="forward"))
    assert (forward.url, forward.title) == (f"{site}/page2.html", "Page two")
    assert (await browser.run(History(action="reload"))).status == 200


async def test_content_text_is_readable_and_truncates(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/index.html"))
    result = await browser.run(PageContent(format="text"))
    assert result.content is not None
    assert result.content.startswith("Welcome home\n\nSome bold text and a second page.")
    assert "secret hidden" not in result.content and "script text" not in result.content
    short = await browser.run(PageContent(format="text", max_chars=7))
    assert (short.content, short.truncated) == ("Welcome", True)


async def test_content_markdown_keeps_structure(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/index.html"))
    md = (await browser.run(PageContent(format="markdown"))).content
    assert md == (
        "# Welcome home\n\n"
        f"Some **bold** text and a [second page]({site}/page2.html).\n\n"
        "## Things\n\n"
        "- apple\n- pear\n  - small pear\n\n"
        "1. first\n2. second\n\n"
        "```\nx = 1\nif x:\n    print(x)\n```"
    )


async def test_content_html(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/page2.html"))
    html = (await browser.run(PageContent(format="html"))).content
    assert html is not None and html.startswith("<!DOCTYPE html>") and "<h1>Second</h1>" in html


async def test_screenshot_is_a_png_of_the_viewport(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/long.html"))
    for full_page, height in ((False, 800), (True, 5000)):
        shot = (await browser.run(Screenshot(full_page=full_page))).screenshot_png
        assert shot is not None
        png = base64.b64decode(shot)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        width, h = struct.unpack(">II", png[16:24])
        assert width == 1280 and (h == height if not full_page else h >= height)


async def test_wait_for_an_element_added_later(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/delayed.html"))
    await browser.run(WaitFor(selector="#late", timeout_s=5))
    assert (await browser.run(PageContent())).content == "arrived"


async def test_missing_element_is_not_found(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/click.html"))
    with pytest.raises(NotFound, match=r"no element matches selector '#nope' within 0\.5 s"):
        await browser.run(Click(selector="#nope", timeout_s=0.5))
    with pytest.raises(NotFound, match="no element matches text 'Absent'"):
        await browser.run(Click(text="Absent", timeout_s=0.5))
    with pytest.raises(NotFound):
        await browser.run(WaitFor(selector="#nope", timeout_s=0.5))
    with pytest.raises(Timeout, match="still there"):
        await browser.run(WaitFor(selector="#btn", state="detached", timeout_s=0.5))
    with pytest.raises(InputError, match="invalid selector"):
        await browser.run(Click(selector="##bad[", timeout_s=0.5))
    assert (await browser.run(PageState())).title == "Click"  # the page survived all that


async def test_failed_navigation_names_url_and_reason(browser: Browser, site: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    with pytest.raises(BrowserError, match=rf"could not load {url}: the connection was refused"):
        await browser.run(Navigate(url=url))
    # Chromium's error page commits late; the next navigation must not be interrupted by it.
    assert (await browser.run(Navigate(url=f"{site}/page2.html"))).title == "Page two"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "javascript:alert(1)", "data:text/html,hi",
                                 "example.com", "chrome://version"])
async def test_other_schemes_are_rejected(browser: Browser, url: str) -> None:
    with pytest.raises(InputError, match="only http://, https://"):
        await browser.run(Navigate(url=url))


async def test_file_urls_only_inside_the_workspace(browser: Browser, workspace: Path) -> None:
    page = workspace / "local.html"
    page.write_text("<title>Local</title><p>from disk</p>")
    result = await browser.run(Navigate(url=page.as_uri()))
    assert (result.title, result.url) == ("Local", page.as_uri())
    with pytest.raises(InputError, match="outside the workspace"):
        await browser.run(Navigate(url="file:///etc/passwd"))
    with pytest.raises(InputError, match="outside the workspace"):
        await browser.run(Navigate(url=f"{workspace.as_uri()}/../escape.html"))


async def test_downloads_land_in_the_workspace(browser: Browser, site: str, workspace: Path) -> None:
    await browser.run(Navigate(url=f"{site}/download.html"))
    assert (await browser.run(Click(text="report"))).title == "Files"
    assert (workspace / "downloads" / "report.csv").read_text() == "a,b\n1,2\n"
    with pytest.raises(BrowserError, match="is a file download"):
        await browser.run(Navigate(url=f"{site}/report.csv"))


def _chromium_browser_pids() -> list[int]:
    """Chromium browser processes (not renderers) descended from this test process."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    ours: set[int] = {os.getpid()}
    for _ in range(4):
        ours |= {pid for pid, ppid in parents.items() if ppid in ours}
    pids = []
    for pid in ours:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline[0].endswith(b"chromium") and not any(a.startswith(b"--type=") for a in cmdline):
            pids.append(pid)
    return pids


async def test_killed_browser_is_restarted_on_next_action(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/index.html"))
    pids = _chromium_browser_pids()
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)
    result = await browser.run(Navigate(url=f"{site}/page2.html"))
    assert (result.restarted, result.title, result.status) == (True, "Page two", 200)
    assert browser.state == "running"
    assert not (await browser.run(PageState())).restarted


async def test_crashed_page_is_detected(browser: Browser, site: str) -> None:
    await browser.run(Navigate(url=f"{site}/index.html"))
    assert browser._context is not None and browser._page is not None
    session = await browser._context.new_cdp_session(browser._page)
    crashed = asyncio.Event()
    browser._page.on("crash", lambda _: crashed.set())
    # The crashed target never answers; the call ends when the dead browser is replaced.
    crash_call = asyncio.ensure_future(session.send("Page.crash"))
    await crashed.wait()
    assert browser.state == "crashed"
    result = await browser.run(PageState())
    assert (result.restarted, result.url) == (True, "about:blank")
    with contextlib.suppress(Exception):
        await crash_call


async def test_wedged_page_is_restarted_with_a_clear_error(browser: Browser, site: str) -> None:
    with pytest.raises(Timeout, match="stopped responding and was restarted"):
        await browser.run(Navigate(url=f"{site}/spin.html", timeout_s=1))
    result = await browser.run(Navigate(url=f"{site}/page2.html"))
    assert (result.title, browser.state) == ("Page two", "running")


async def test_missing_executable_is_a_browser_error(workspace: Path) -> None:
    broken = Browser(str(workspace), executable="/nonexistent/chromium")
    with pytest.raises(BrowserError, match="could not start Chromium"):
        await broken.run(PageState())
    assert broken.state == "stopped"


async def test_close_then_next_action_starts_again(browser: Browser, site: str) -> None:
    from runtime.sandboxd.protocol import CloseBrowser

    await browser.run(CloseBrowser())
    assert browser.state == "stopped"
    result = await browser.run(Navigate(url=f"{site}/index.html"))
    assert (result.title, result.restarted, browser.state) == ("Index", False, "running")
