"""Citations only for opened pages; report sources parsed; byte offsets; embedded chart paths; the
annotations and images of a streamed answer survive the event log's folding."""

from __future__ import annotations

from runtime import steps as s
from runtime.agent.answer import embedded_images
from runtime.agent.citations import annotate, opened_pages, report_sources
from runtime.cli.run_output import answer_sources
from runtime.wire import fold_steps

REPORT = """# Title

Body [1] [2].

## Sources

1. Census — https://stats.example/census/
2) Blog, 2024: https://blog.example/post.
- [3] Paper https://arxiv.org/abs/1234.5678

## Appendix

4. not a source https://elsewhere.example/
"""


def _browser(url: str, status: int = 200, title: str = "T") -> s.FunctionResultStep:
    return s.FunctionResultStep(
        call_id="b", name="browser", result=f"url: {url}\ntitle: {title}\nstatus: {status}"
    )


def test_report_sources_are_the_numbered_sources_section() -> None:
    sources = report_sources(REPORT)
    assert [(x.number, x.url) for x in sources] == [
        (1, "https://stats.example/census/"),
        (2, "https://blog.example/post"),
        (3, "https://arxiv.org/abs/1234.5678"),
    ]
    assert sources[0].title == "Census" and sources[1].title == "Blog, 2024"


def test_only_opened_pages_are_cited_with_byte_offsets() -> None:
    steps = [
        _browser("https://stats.example/census", title="Census page"),
        _browser("https://blog.example/post", status=404),  # an error page is not the source
        s.UrlContextResultStep(
            call_id="u",
            result=[s.UrlContextResultItem(url="https://arxiv.org/abs/1234.5678", status="success")],
        ),
    ]
    opened = opened_pages(steps)
    assert set(opened) == {"https://stats.example/census", "https://arxiv.org/abs/1234.5678"}
    text = "Größe [1], Blog [2], paper [3]."
    notes = annotate(text, report_sources(REPORT), opened)
    assert [n.url for n in notes] == ["https://stats.example/census/", "https://arxiv.org/abs/1234.5678"]
    raw = text.encode()
    assert [raw[n.start_index or 0 : n.end_index or 0] for n in notes] == [b"[1]", b"[3]"]


def test_written_out_urls_of_opened_pages_are_cited() -> None:
    opened = opened_pages([_browser("https://stats.example/census", title="Census page")])
    [note] = annotate("See https://stats.example/census/. Or https://no.example/", [], opened)
    assert note.url == "https://stats.example/census/" and note.title == "Census page"


def test_embedded_images_are_workspace_paths_only() -> None:
    report = (
        "![a](charts/a.png) ![b](./charts/b.svg) ![w](https://x.example/c.png) ![e](../etc/x.png) "
        "![abs](/workspace/charts/d.png) ![root](/etc/e.png)"
    )
    assert embedded_images(report) == ["charts/a.png", "charts/b.svg", "charts/d.png"]


def test_streamed_annotations_and_images_fold_into_the_step() -> None:
    events = [
        {"event_type": "step.start", "index": 1, "step": {"type": "model_output", "content": []}},
        {"event_type": "step.delta", "index": 1, "delta": {"type": "text", "text": "42 [1]"}},
        {
            "event_type": "step.delta",
            "index": 1,
            "delta": {
                "type": "text_annotation_delta",
                "annotations": [
                    {
                        "type": "url_citation",
                        "url": "https://stats.example/census/",
                        "start_index": 3,
                        "end_index": 6,
                    }
                ],
            },
        },
        {
            "event_type": "step.delta",
            "index": 1,
            "delta": {"type": "image", "data": "iVBO", "mime_type": "image/png"},
        },
        {"event_type": "step.stop", "index": 1},
    ]
    [step] = fold_steps(events, 1)
    assert step["content"][0]["annotations"][0]["url"] == "https://stats.example/census/"
    assert step["content"][1] == {"type": "image", "data": "iVBO", "mime_type": "image/png"}
    typed = s.ModelOutputStep.model_validate(step)
    assert answer_sources([typed]) == [{"url": "https://stats.example/census/", "title": None}]
