"""Citations of a research answer: ``url_citation`` annotations (spec §5.1) for pages the run opened.

A page counts as opened when the browser tool loaded it (its result names the ``url:`` it landed
on, with no error status) or Gemini's URL context fetched it successfully. The answer's numbered
references ``[n]`` map to the numbered "Sources" list of ``report.md``; a reference (or a URL
written out in the answer) becomes an annotation only when its URL is one the run opened, so no
citation points at a page the agent never read. Offsets are UTF-8 byte offsets into the text, as
the wire defines them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from runtime import steps as s

REPORT_FILE = "report.md"
_URL = re.compile(r"https?://[^\s<>()\[\]\"']+")
_REF = re.compile(r"\[(\d{1,3})\]")
_SOURCE_LINE = re.compile(r"^\s*(?:[-*]\s*)?(?:\[(\d{1,3})\]|(\d{1,3})[.)])\s*(.+)$")
_SOURCES_HEADING = re.compile(r"^#{1,6}\s*(sources|references)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    number: int
    url: str
    title: str | None = None


def normalize(url: str) -> str:
    """A URL for comparison: no fragment, no trailing slash, lower-case scheme and host."""
    parts = urlsplit(url.strip().rstrip(".,;:"))
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def opened_pages(steps: Iterable[s.Step]) -> dict[str, str | None]:
    """Normalised URL → page title of every page the run opened."""
    pages: dict[str, str | None] = {}
    for step in steps:
        if isinstance(step, s.FunctionResultStep) and step.name == "browser" and not step.is_error:
            url, title = _browser_page(step.result)
            if url:
                pages.setdefault(normalize(url), title)
        elif isinstance(step, s.UrlContextResultStep):
            for item in step.result or []:
                if item.url and item.status == "success":
                    pages.setdefault(normalize(item.url), None)
    return pages


def _browser_page(result: object) -> tuple[str | None, str | None]:
    text = result if isinstance(result, str) else ""
    if isinstance(result, list):
        text = "".join(c.text for c in result if isinstance(c, s.TextContent))
    fields = dict(line.split(": ", 1) for line in text.splitlines()[:3] if ": " in line)
    url = fields.get("url")
    status = fields.get("status", "200")
    if not url or not url.startswith(("http://", "https://")) or not status.isdigit() or int(status) >= 400:
        return None, None  # not a page, or an error page (not the source it claims to be)
    return url, fields.get("title") or None


def report_sources(report: str) -> list[Source]:
    """The numbered entries of the report's "Sources" (or "References") section."""
    sources: list[Source] = []
    inside = False
    for line in report.splitlines():
        if line.lstrip().startswith("#"):
            inside = bool(_SOURCES_HEADING.match(line.strip()))
            continue
        match = _SOURCE_LINE.match(line) if inside else None
        url = _URL.search(line) if match else None
        if match and url:
            number = int(match.group(1) or match.group(2))
            title = match.group(3)[: url.start() - match.start(3)].strip(" -—–,.:*") or None
            sources.append(Source(number, url.group(0).rstrip(".,;:"), title))
    return sources


def cited_sources(sources: list[Source], opened: dict[str, str | None]) -> list[Source]:
    """The report's sources whose page the run opened (the only ones that may be cited)."""
    return [src for src in sources if normalize(src.url) in opened]


def annotate(text: str, sources: list[Source], opened: dict[str, str | None]) -> list[s.UrlCitation]:
    """Annotations for the references ``[n]`` and the written-out URLs of ``text`` that point at
    opened pages, in text order."""
    by_number = {src.number: src for src in cited_sources(sources, opened)}
    spans: list[tuple[int, int, str, str | None]] = []
    for ref in _REF.finditer(text):
        src = by_number.get(int(ref.group(1)))
        if src is not None:
            spans.append((ref.start(), ref.end(), src.url, src.title or opened.get(normalize(src.url))))
    for found in _URL.finditer(text):
        url = found.group(0).rstrip(".,;:")
        if normalize(url) in opened:
            spans.append((found.start(), found.start() + len(url), url, opened[normalize(url)]))
    return [
        s.UrlCitation(url=url, title=title, start_index=_byte(text, start), end_index=_byte(text, end))
        for start, end, url, title in sorted(spans)
    ]


def _byte(text: str, index: int) -> int:
    return len(text[:index].encode())


def with_citations(step: s.ModelOutputStep, sources: list[Source], opened: dict[str, str | None]) -> None:
    """Put the annotations on each text block of ``step`` (in place)."""
    for block in step.content or []:
        if isinstance(block, s.TextContent):
            found = annotate(block.text, sources, opened)
            if found:
                block.annotations = [*(block.annotations or []), *found]
