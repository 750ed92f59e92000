"""The one exception tree of Hangar.

Two branches: :class:`InputError` (the caller's request or configuration is wrong; retrying the
same thing cannot help) and :class:`InfraError` (something Hangar depends on failed; ``retryable``
says whether trying again may help). Every error carries a stable ``code`` string, the same one the
API and sandboxd put in ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations


class HangarError(Exception):
    """Root of every error Hangar raises on purpose."""

    code: str = "internal"
    retryable: bool = False
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable

    def to_body(self) -> dict[str, dict[str, object]]:
        return {"error": {"code": self.code, "message": self.message, "retryable": self.retryable}}


class InputError(HangarError):
    """The request, a path, a YAML file or a setting is invalid. Never retryable."""

    code = "invalid_argument"
    http_status = 400


class NotFound(InputError):
    code = "not_found"
    http_status = 404


class PathOutsideWorkspace(InputError):
    """A path escapes the sandbox workspace (``..``, an outside absolute path, or a symlink)."""

    code = "path_outside_workspace"


class LimitExceeded(InputError):
    """A size limit was reached (an archive's expansion, an upload, a workspace quota); the
    message names the limit and the setting that sets it."""

    code = "resource_exhausted"
    http_status = 413


class QuotaExceeded(HangarError):
    """A per-project limit is reached (Google's ``resource_exhausted`` as HTTP 429); the message
    names the limit and its setting; ``retry_after`` (seconds) goes to the ``Retry-After`` header."""

    code = "resource_exhausted"
    http_status = 429
    retryable = True

    def __init__(self, message: str, *, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AlreadyExists(InputError):
    """The target exists and the caller asked not to replace it (Google's ``aborted``)."""

    code = "aborted"
    http_status = 409


class InfraError(HangarError):
    """A dependency (Docker engine, sandbox, browser, database, model API) failed."""

    code = "infrastructure"
    retryable = True
    http_status = 503


class EngineUnavailable(InfraError):
    code = "engine_unavailable"


class ImageMissing(InfraError):
    code = "image_missing"
    retryable = False


class SandboxStartFailed(InfraError):
    code = "sandbox_start_failed"


class SandboxGone(InfraError):
    """The sandbox died or was removed while in use (out of memory, killed, reaped)."""

    code = "sandbox_gone"
    retryable = False


class Timeout(InfraError):
    code = "timeout"
    http_status = 504


class BrowserError(InfraError):
    code = "browser_error"
    retryable = False


_BY_CODE: dict[str, type[HangarError]] = {}


def _register(*classes: type[HangarError]) -> None:
    for cls in classes:
        _BY_CODE[cls.code] = cls


_register(
    InputError, NotFound, PathOutsideWorkspace, InfraError, EngineUnavailable, ImageMissing,
    SandboxStartFailed, SandboxGone, Timeout, BrowserError,
)
_register(LimitExceeded, AlreadyExists)


def from_body(body: object, *, default_status: int = 500) -> HangarError:
    """Rebuild a typed error from an ``{"error": {...}}`` body sent by sandboxd or the API."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return InfraError(f"unexpected error body (HTTP {default_status}): {body!r}"[:500])
    code = str(err.get("code", "internal"))
    message = str(err.get("message", "unknown error"))
    cls = _BY_CODE.get(code, InputError if 400 <= default_status < 500 else InfraError)
    retryable = err.get("retryable")
    return cls(message, code=code, retryable=retryable if isinstance(retryable, bool) else None)


# --- model API (runtime/llm) -------------------------------------------------------------------


class MissingCredentials(InputError):
    """No usable model credentials in the environment (raised before any sandbox starts)."""

    code = "missing_credentials"


class ModelError(InfraError):
    """The model API failed or refused the request; ``status`` is its HTTP status when it sent one.

    4xx answers (other than 408 and 429) are not retryable: the same request fails the same way.
    """

    code = "model_error"
    retryable = False
    http_status = 502

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message, code=code, retryable=retryable)
        self.status = status


class ModelUnavailable(ModelError):
    """Rate limited (429), overloaded or failing (5xx, 408), timed out or unreachable."""

    code = "model_unavailable"
    retryable = True
    http_status = 503


_register(MissingCredentials, ModelError, ModelUnavailable)
