"""``page_size``/``page_token`` pagination (spec §1.6). Tokens are opaque to callers: here, the
offset of the next item."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.errors import InputError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_page_token: str


def page_bounds(page_size: int | None, page_token: str | None) -> tuple[int, int]:
    """``(offset, size)``. Raises :class:`InputError` for a negative size or a foreign token."""
    if page_size is not None and page_size < 0:
        raise InputError("page_size must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not page_token:
        return 0, size
    if not page_token.isdigit():
        raise InputError("page_token is not a token returned by this list")
    return int(page_token), size


def next_token(offset: int, size: int, more: bool) -> str:
    return str(offset + size) if more else ""


def page_of(items: list[Any], page_size: int | None, page_token: str | None) -> Page:
    offset, size = page_bounds(page_size, page_token)
    return Page(items[offset:offset + size], next_token(offset, size, offset + size < len(items)))
