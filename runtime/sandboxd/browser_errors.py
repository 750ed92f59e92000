"""Map Playwright's errors to Hangar's error tree, with messages a model can act on."""

from __future__ import annotations

import re

from runtime.errors import BrowserError, HangarError, InputError, NotFound, Timeout
from runtime.sandboxd.protocol import BrowserAction

_NET_ERROR = re.compile(r"net::(ERR_[A-Z0-9_]+)")
_NET_REASONS = {
    "ERR_NAME_NOT_RESOLVED": "the host name could not be resolved (no DNS, or no network access)",
    "ERR_NAME_RESOLUTION_FAILED": "the host name could not be resolved (no DNS, or no network access)",
    "ERR_CONNECTION_REFUSED": "the connection was refused (nothing listens on that port)",
    "ERR_CONNECTION_RESET": "the connection was reset",
    "ERR_CONNECTION_CLOSED": "the server closed the connection without a response",
    "ERR_CONNECTION_TIMED_OUT": "the connection timed out",
    "ERR_TIMED_OUT": "the request timed out",
    "ERR_ADDRESS_UNREACHABLE": "the address is unreachable (no network access)",
    "ERR_INTERNET_DISCONNECTED": "there is no network access in this sandbox",
    "ERR_NETWORK_ACCESS_DENIED": "network access was denied",
    "ERR_PROXY_CONNECTION_FAILED": "the egress proxy could not be reached",
    "ERR_TUNNEL_CONNECTION_FAILED": "the egress proxy refused the connection (domain not allowed?)",
    "ERR_FILE_NOT_FOUND": "the file does not exist",
    "ERR_TOO_MANY_REDIRECTS": "the page redirects in a loop",
    "ERR_EMPTY_RESPONSE": "the server sent an empty response",
}
_DEAD = (
    "Target crashed",
    "Target page, context or browser has been closed",
    "Browser has been closed",
    "Browser closed",
    "Connection closed",
)
_BAD_SELECTOR = ("is not a valid selector", "Unexpected token", "Unknown engine", "SyntaxError")


def looks_dead(error: BaseException) -> bool:
    """Whether a Playwright error says the page or browser is gone (it may beat the events)."""
    return any(marker in str(error) for marker in _DEAD)


def is_playwright_timeout(error: BaseException) -> bool:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    return isinstance(error, PlaywrightTimeout | TimeoutError)


def map_error(error: BaseException, action: BrowserAction) -> HangarError:
    """The Hangar error for a Playwright (or asyncio timeout) error raised by ``action``."""
    if is_playwright_timeout(error):
        return _timeout(error, action)
    text = str(error)
    first = text.splitlines()[0] if text else type(error).__name__
    selector = getattr(action, "selector", None)
    if selector is not None and any(marker in text for marker in _BAD_SELECTOR):
        return InputError(f"invalid selector {selector!r}: {first}")
    if action.action == "navigate":
        return _load_failed(action.url, text, first)
    if action.action in ("back", "forward", "reload") and _NET_ERROR.search(text):
        return _load_failed(f"the page ({action.action})", text, first)
    if "Unknown key" in text:
        return InputError(f"unknown key {getattr(action, 'key', '')!r}: {first}")
    if "is not an <input>" in text or "not an <input>, <textarea>" in text:
        return InputError(f"the element matching {selector!r} is not a text field: {first}")
    return BrowserError(f"browser action '{action.action}' failed: {first}")


def _load_failed(url: str, text: str, first: str) -> HangarError:
    if "Download is starting" in text:
        return BrowserError(f"{url} is a file download, not a page; it is saved under "
                            "the workspace's downloads/ directory")
    match = _NET_ERROR.search(text)
    if match is None:
        return BrowserError(f"could not load {url}: {first}")
    code = match.group(1)
    reason = _NET_REASONS.get(code, code.removeprefix("ERR_").lower().replace("_", " "))
    return BrowserError(f"could not load {url}: {reason} (net::{code})")


def _timeout(error: BaseException, action: BrowserAction) -> HangarError:
    seconds = f"{action.timeout_s:g} s"
    if isinstance(error, TimeoutError):  # the supervisor's own deadline: Playwright never answered
        return Timeout(f"browser action '{action.action}' got no answer within {seconds}")
    if action.action == "navigate":
        return Timeout(f"loading {action.url} did not reach '{action.wait_until}' within {seconds}")
    selector = getattr(action, "selector", None)
    if action.action == "click" and selector is None:
        what = f"text {action.text!r}"
    elif selector is not None:
        what = f"selector {selector!r}"
    else:
        return Timeout(f"browser action '{action.action}' did not finish within {seconds}")
    # Playwright's call log says whether the element was ever found.
    found = "resolved to" in str(error)
    if action.action == "wait" and action.state in ("detached", "hidden"):
        return Timeout(f"the element matching {what} was still there after {seconds}")
    if not found:
        return NotFound(f"no element matches {what} within {seconds}")
    if action.action == "wait":
        return Timeout(f"the element matching {what} exists but was not {action.state} within {seconds}")
    return Timeout(f"the element matching {what} exists but was not visible, enabled and stable "
                   f"for '{action.action}' within {seconds}")
