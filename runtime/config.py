"""Process settings, read once from ``HANGAR_*`` environment variables at an entry point."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "hangar"


class Settings(BaseSettings):
    """Settings of one Hangar process. ``HANGAR_DATA_DIR`` overrides ``data_dir``, and so on."""

    model_config = SettingsConfigDict(env_prefix="HANGAR_", extra="ignore", validate_by_name=True)

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where Hangar keeps its state (sandbox socket directories live under ``sandbox/``)."""
    sandbox_namespace: str = "default"
    """Label value that separates the sandboxes of several Hangar instances on one engine."""
    sandbox_runtime: str | None = None
    """OCI runtime for sandboxes (``runsc`` for gVisor); the engine default when unset."""
    sandbox_image: str = "hangar-sandbox:latest"
    sandboxes: bool = True
    """Run agent interactions in Docker sandboxes (off: only model interactions are served)."""
    agents_dir: Path | None = None
    """Folder of agent YAML files; default ``./agents`` or the checkout's ``agents/``."""
    allow_open_egress: bool = False
    """Let API tenants give their boxes open egress (an allowlist ``*``); an environment without
    ``network`` then gets it too (Google's default). Off: such requests are a 400 and an environment
    without ``network`` has none. Agent files on the server decide for themselves."""
    egress_private_hosts: tuple[str, ...] = ()
    """Domain patterns allowlist boxes may reach even when they resolve to a private address (an
    intranet git server; tests' own containers), as a JSON list: ``'["git.corp.example"]'``."""

    # --- API, store and worker ---------------------------------------------------------------------
    database_url: str | None = None
    """SQLAlchemy async URL; default: a SQLite file ``hangar.db`` in ``data_dir``."""
    path_prefix: str = Field(default="", pattern=r"^(/[A-Za-z0-9._~-]+)*$")
    """Serve the API under this path too (e.g. ``/hangar`` behind a proxy); unprefixed paths keep working."""
    host: str = "127.0.0.1"
    port: int = 8080
    api_key: SecretStr | None = None
    """Development API key: registered (hashed) for the default project at start-up."""
    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY", "gemini_api_key")
    )
    """Key for model calls (``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``, not ``HANGAR_``-prefixed)."""
    gemini_base_url: str | None = None
    """Point the model client somewhere else than Google (a fake Gemini server in tests)."""
    worker_concurrency: int = Field(default=8, ge=1)
    """How many interactions one process runs at the same time."""
    lease_seconds: float = Field(default=30.0, gt=0)
    """A claimed interaction whose lease is not renewed for this long is considered abandoned."""
    poll_seconds: float = Field(default=1.0, gt=0)
    """How often the worker looks for work queued elsewhere (and for expired leases to resume),
    and quiet streams re-read the log."""
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    """On shutdown, how long running interactions may go on; the rest are resumed at the next start."""
    max_attempts: int = Field(default=3, ge=1)
    """An interaction whose process stopped this many times while running it fails (``interrupted``)."""
    retention_seconds: float | None = Field(default=None, gt=0)
    """Finished interactions (and their events) not updated for this long are deleted, with the
    environments only they used; ``None`` (the default) keeps everything."""
    retention_sweep_seconds: float = Field(default=300.0, gt=0)
    """How often expired interactions are looked for (when ``retention_seconds`` is set)."""
    keepalive_seconds: float = Field(default=15.0, gt=0)
    """Interval of SSE keep-alive comments on an idle stream."""
    max_request_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Create bodies larger than this are rejected with 400."""
    max_upload_bytes: int = Field(default=1024 * 1024 * 1024, ge=1)
    """Largest environment file upload (``/upload/{v}/environments/.../files``)."""
    file_box_idle_seconds: float = Field(default=60.0, gt=0)
    """How long a sandbox opened for environment file access is kept after its last use."""

    # --- webhooks ----------------------------------------------------------------------------------
    webhook_max_attempts: int = Field(default=6, ge=1)
    """Attempts per delivery (the first one included) before it is given up as failed."""
    webhook_retry_seconds: float = Field(default=10.0, gt=0)
    """Delay before the first retry; it doubles after each failed attempt (10 s → ~5 min in all)."""
    webhook_retry_max_seconds: float = Field(default=600.0, gt=0)
    """Upper bound of one retry delay."""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    """Time a receiver has to answer one delivery."""
    webhook_signing_secret: SecretStr | None = None
    """``whsec_`` secret signing deliveries to per-request ``webhook_config`` URIs (unsigned when unset)."""

    @property
    def cli_sandbox_namespace(self) -> str:
        """Namespace of boxes made by one-off commands (``hangar run``, ``hangar sandbox``): apart
        from the server's, whose reaper would otherwise take them for orphans of its own."""
        return f"{self.sandbox_namespace[:27]}-cli"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'hangar.db'}"
