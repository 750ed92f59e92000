"""Wire models between the host and sandboxd, imported by both sides.

Transport: HTTP/1.1 over a unix socket (``SOCKET_NAME`` in the bind-mounted socket directory).
Every request carries ``Authorization: Bearer <token>``. JSON request bodies unless noted; errors
are ``{"error": {"code", "message", "retryable"}}`` with a 4xx/5xx status (see ``runtime.errors``).

Routes (all ``POST`` except health):

==========================  =====================  ==========================================
route                       body                   response
==========================  =====================  ==========================================
``GET /health``             --                     :class:`Health`
``/shutdown``               --                     ``{}``
``/exec``                   :class:`ExecRequest`   NDJSON stream of :class:`ExecEvent`
``/shell/run``              :class:`ShellRun`      :class:`ShellResult`
``/shell/close``            :class:`SessionRef`    ``{}``
``/python/run``             :class:`PythonRun`     :class:`PythonResult`
``/python/close``           :class:`SessionRef`    ``{}``
``/files/list``             :class:`ListRequest`   :class:`ListResult`
``/files/stat``             :class:`PathRequest`   :class:`FileInfo`
``/files/read``             :class:`ReadRequest`   raw bytes (``application/octet-stream``)
``/files/write?path=&append=&mode=``  raw bytes    :class:`FileInfo`
``/files/mkdir``            :class:`PathRequest`   :class:`FileInfo`
``/files/move``             :class:`MoveRequest`   :class:`FileInfo`
``/files/delete``           :class:`DeleteRequest` ``{}``
``/files/upload?path=``     tar stream             ``{"files": n}``
``/files/download?path=``   --                     tar stream
``/browser``                :data:`BrowserAction`  :class:`BrowserResult`
==========================  =====================  ==========================================

Paths are relative to the workspace or absolute inside it; anything that resolves outside
(``..``, other absolute paths, escaping symlinks) is rejected with ``path_outside_workspace``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SOCKET_NAME = "sandboxd.sock"
TOKEN_HEADER = "authorization"
WORKSPACE = "/workspace"
DEFAULT_MAX_OUTPUT = 1_000_000


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- health ------------------------------------------------------------------------------------


class Health(Wire):
    status: Literal["ok"] = "ok"
    version: str
    pid: int
    uptime_s: float
    browser: Literal["stopped", "running", "crashed"] = "stopped"


# --- exec --------------------------------------------------------------------------------------


class ExecRequest(Wire):
    """A one-shot command. Exactly one of ``argv`` or ``command`` (run by ``bash -c``)."""

    argv: list[str] | None = None
    command: str | None = None
    cwd: str | None = None
    """Working directory, confined to the workspace; default the workspace root."""
    env: dict[str, str] = Field(default_factory=dict)
    stdin: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    """Wall-clock limit; on expiry the whole process group is killed."""
    idle_timeout_s: float | None = Field(default=None, gt=0)
    """Kill when no output was produced for this long (catches silent hangs)."""
    max_output_bytes: int = Field(default=DEFAULT_MAX_OUTPUT, gt=0)
    """Output beyond this many bytes (stdout and stderr together) is dropped; ``truncated`` says so."""


class OutputChunk(Wire):
    type: Literal["stdout", "stderr"]
    data: str


class ExecExit(Wire):
    type: Literal["exit"] = "exit"
    exit_code: int
    """Exit code; ``-N`` when killed by signal N."""
    timed_out: bool = False
    idle_timed_out: bool = False
    truncated: bool = False
    duration_ms: float


ExecEvent = Annotated[OutputChunk | ExecExit, Field(discriminator="type")]


class ExecResult(Wire):
    """What the host client gathers from an exec stream."""

    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool = False
    idle_timed_out: bool = False
    truncated: bool = False
    duration_ms: float


# --- sessions ----------------------------------------------------------------------------------


class SessionRef(Wire):
    session: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class ShellRun(SessionRef):
    command: str
    timeout_s: float | None = Field(default=None, gt=0)
    max_output_bytes: int = Field(default=DEFAULT_MAX_OUTPUT, gt=0)


class ShellResult(Wire):
    output: str
    """stdout and stderr interleaved as the terminal would show them."""
    exit_code: int
    timed_out: bool = False
    """On timeout the running command is interrupted; the session survives."""
    truncated: bool = False
    cwd: str
    duration_ms: float


class PythonRun(SessionRef):
    code: str
    timeout_s: float | None = Field(default=None, gt=0)
    max_output_bytes: int = Field(default=DEFAULT_MAX_OUTPUT, gt=0)


class PythonError(Wire):
    ename: str
    evalue: str
    traceback: str


class PythonResult(Wire):
    stdout: str
    stderr: str
    result: str | None = None
    """``repr`` of the value of the last expression, like a notebook cell."""
    error: PythonError | None = None
    images: list[str] = Field(default_factory=list)
    """PNG images (base64) of matplotlib figures open at the end of the cell."""
    timed_out: bool = False
    truncated: bool = False
    duration_ms: float


# --- files -------------------------------------------------------------------------------------


class PathRequest(Wire):
    path: str = "."


class ListRequest(PathRequest):
    recursive: bool = False
    max_entries: int = Field(default=10_000, gt=0, le=1_000_000)


class FileInfo(Wire):
    path: str
    """Path relative to the workspace root (``.`` for the root)."""
    type: Literal["file", "directory", "symlink", "other"]
    size: int
    mtime: float
    mode: int
    created: float | None = None
    """Birth time, where the kernel and filesystem record it (``statx``); ``None`` elsewhere."""


class ListResult(Wire):
    entries: list[FileInfo]
    truncated: bool = False


class ReadRequest(PathRequest):
    offset: int = Field(default=0, ge=0)
    length: int | None = Field(default=None, ge=0)


class MoveRequest(Wire):
    src: str
    dst: str
    overwrite: bool = False


class DeleteRequest(PathRequest):
    recursive: bool = False


# --- browser -----------------------------------------------------------------------------------


class _BrowserBase(Wire):
    timeout_s: float = Field(default=30.0, gt=0, le=600)


class Navigate(_BrowserBase):
    action: Literal["navigate"] = "navigate"
    url: str
    wait_until: Literal["load", "domcontentloaded", "networkidle", "commit"] = "load"


class Click(_BrowserBase):
    """Click by CSS ``selector`` or by visible ``text`` (exactly one)."""

    action: Literal["click"] = "click"
    selector: str | None = None
    text: str | None = None


class TypeText(_BrowserBase):
    action: Literal["type"] = "type"
    selector: str
    text: str
    clear: bool = True
    submit: bool = False
    """Press Enter after typing."""


class Press(_BrowserBase):
    action: Literal["press"] = "press"
    key: str
    selector: str | None = None


class Scroll(_BrowserBase):
    action: Literal["scroll"] = "scroll"
    dx: int = 0
    dy: int = 600


class History(_BrowserBase):
    action: Literal["back", "forward", "reload"]


class PageState(_BrowserBase):
    action: Literal["state"] = "state"


class PageContent(_BrowserBase):
    action: Literal["content"] = "content"
    format: Literal["text", "markdown", "html"] = "text"
    max_chars: int = Field(default=200_000, gt=0)


class Screenshot(_BrowserBase):
    action: Literal["screenshot"] = "screenshot"
    full_page: bool = False


class WaitFor(_BrowserBase):
    action: Literal["wait"] = "wait"
    selector: str
    state: Literal["attached", "detached", "visible", "hidden"] = "visible"


class CloseBrowser(_BrowserBase):
    action: Literal["close"] = "close"


BrowserAction = Annotated[
    Navigate | Click | TypeText | Press | Scroll | History | PageState | PageContent | Screenshot
    | WaitFor | CloseBrowser,
    Field(discriminator="action"),
]


class BrowserResult(Wire):
    url: str
    title: str
    status: int | None = None
    """HTTP status of the main document after a navigation."""
    content: str | None = None
    """Page text (``content`` action)."""
    truncated: bool = False
    screenshot_png: str | None = None
    """Base64 PNG (``screenshot`` action)."""
    restarted: bool = False
    """The browser had crashed or wedged and was restarted before this action; page state was lost."""
