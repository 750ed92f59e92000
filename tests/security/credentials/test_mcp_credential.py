"""An MCP server tool with a ``credential``: the server adds the credential's header when it
connects (through the outbound guard), and another tenant cannot name the credential."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from creds_harness import TOKEN
from env_harness import Served
from google.genai import _interactions as errors

from runtime.llm import turn

pytestmark = [pytest.mark.docker,
              pytest.mark.filterwarnings("ignore:Credentials usage is experimental:UserWarning")]


class Recorder:
    """Records the headers of every request and answers 503 (the MCP session then fails)."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                recorder.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mcp"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    found = Recorder()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_the_server_adds_the_header(
    served: Served, agent: str, credentials: None, recorder: Recorder
) -> None:
    served.server.script.set(turn("done"))
    client = served.server.client()
    tool = {"type": "mcp_server", "name": "m", "url": recorder.url, "credential": "gh"}
    client.interactions.create(agent=agent, input="x", tools=[tool])
    assert recorder.headers, "the server connected to the MCP server"
    assert all(h.get("authorization") == f"token {TOKEN}" for h in recorder.headers)


def test_another_tenant_cannot_name_it(
    served: Served, agent: str, credentials: None, recorder: Recorder
) -> None:
    served.server.script.set(turn("done"))
    other = served.server.client(served.server.other_key)
    tool = {"type": "mcp_server", "name": "m", "url": recorder.url, "credential": "gh"}
    with pytest.raises(errors.BadRequestError, match=r"tools\[0\]\.credential: credential 'gh' not found"):
        other.interactions.create(agent="antigravity", input="x", tools=[tool])
    assert recorder.headers == [], "nothing was sent"
