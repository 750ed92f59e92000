"""Process settings, read once from ``HANGAR_*`` environment variables at an entry point."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from runtime.errors import InputError

_ALLOW_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?)(:[0-9]{1,5})?$")


ENV_PREFIX = "HANGAR_"

REMOVED_SETTINGS: dict[str, str] = {
    "HANGAR_WEBHOOK_SIGNING_SECRET": (
        "deliveries to webhook_config URIs are signed with an RS256 JWT now: unset it and use "
        "HANGAR_WEBHOOK_JWT_KEY_FILE (or leave that unset: the key is generated in the data directory)"
    ),
}
"""Settings that are gone, with what replaces them: one still set stops the process at start-up."""

OTHER_HANGAR_VARIABLES = frozenset({"HANGAR_SERVER", "HANGAR_EXTRA_CA", "HANGAR_CHROMIUM"})
"""``HANGAR_*`` names that are not settings but are read elsewhere: the CLI's ``--server``, the
CA bundle of image builds (``runtime/sandbox/images.py``), the box's Chromium (set in the image)."""


class SettingsError(InputError):
    """A ``HANGAR_*`` environment variable is not a setting (removed, or misspelt)."""

    code = "invalid_setting"


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
    lease_seconds: float = Field(default=6.0, gt=0)
    """A claimed interaction whose lease is not renewed for this long is considered abandoned and
    any process takes it over (its worker renews it four times per lease, at most every
    ``poll_seconds``); the old owner's later writes are refused (fenced by the lease epoch)."""
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
    """How often expired interactions (and idle environments) are looked for."""
    environment_retention_seconds: float | None = Field(default=7 * 24 * 3600.0, gt=0)
    """An environment neither used nor changed for this long expires: its workspace volume is
    removed and its id answers 404 (Google keeps an offline environment 7 days, the default);
    ``None`` keeps environments until they are deleted."""
    node_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    """This server process's id: the ``hangar.owner`` label of its boxes and volumes, recorded with
    a heartbeat in the store. Default: one id per host, data directory and namespace, held by a
    file lock (a server restarted after a crash is the same node and reaps its previous life's
    boxes at start-up); a second process on the same data directory gets a random id."""
    node_heartbeat_seconds: float = Field(default=5.0, gt=0)
    """How often a server records that it is alive."""
    node_dead_after_seconds: float = Field(default=30.0, gt=0)
    """A node whose heartbeat is older than this is dead: the next live node of the same namespace
    to beat declares it so in the store and removes the boxes it left on a shared engine at once
    (the periodic reaper and `hangar gc` take what that misses)."""
    keepalive_seconds: float = Field(default=15.0, gt=0)
    """Interval of SSE keep-alive comments on an idle stream."""
    max_request_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Request bodies larger than this are refused with 413 while they are read (whatever their
    ``Content-Length`` says, chunked ones too), on every route but the uploads."""
    max_upload_bytes: int = Field(default=1024 * 1024 * 1024, ge=1)
    """Largest environment file upload (``/upload/{v}/environments/.../files``); also the request
    size limit of the ``/upload/`` routes."""
    file_box_idle_seconds: float = Field(default=60.0, gt=0)
    """How long a sandbox opened for environment file access is kept after its last use."""
    max_json_depth: int = Field(default=64, ge=2, le=500)
    """JSON request bodies nested deeper than this (objects and arrays) are rejected with 400."""
    metrics_token: SecretStr | None = None
    """Bearer token that ``/metrics`` requires (``Authorization: Bearer <token>``); when unset,
    ``/metrics`` is not served (404): its counts cover every project, so no tenant key opens it."""
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    """Base URL clients reach this server at (``https://hangar.example.com/hangar``), used in the
    upload session URLs it hands out; default ``http://{host}:{port}{path_prefix}``. The caller's
    ``Host`` header is never used."""
    max_extract_bytes: int = Field(default=1024**3, ge=1)
    """Largest expansion of one archive uploaded with ``extract`` (bytes of its regular files)."""
    max_extract_entries: int = Field(default=100_000, ge=1)
    """Most entries (files, folders, links) of one archive uploaded with ``extract``."""
    workspace_quota_bytes: int = Field(default=10 * 1024**3, ge=1024 * 1024)
    """Disk one environment's workspace may use (allocated bytes). Uploads past it are refused
    (413); a box past it is stopped and its run fails (checked every
    ``workspace_quota_check_seconds``; see the README for what that does and does not bound)."""
    workspace_quota_entries: int = Field(default=500_000, ge=100)
    """Files, folders and links one workspace may hold (inodes are a shared disk resource too)."""
    workspace_quota_check_seconds: float | None = Field(default=15.0, gt=0)
    """How often the host measures a running box's workspace against the quota; ``None``: never
    (uploads are still checked)."""
    project_max_running_interactions: int | None = Field(default=None, ge=1)
    """Interactions one project may have ``in_progress`` (queued or running) at once; a create past
    it is refused with 429 and ``Retry-After``. ``None`` (the default): no limit."""
    project_max_live_boxes: int | None = Field(default=None, ge=1)
    """Boxes one project may have live at once: its agent interactions ``in_progress`` plus its
    boxes kept warm after a run or serving the files API, on every live server of the namespace
    (the other servers' as they published them with their last heartbeat, so up to one
    ``HANGAR_NODE_HEARTBEAT_SECONDS`` behind). At the limit this server's least recently used kept
    boxes of the project (then idle file boxes) are stopped to
    make room; a new run (or files call needing a box) that still does not fit is refused with 429
    and ``Retry-After``.
    ``None`` (the default): no limit."""
    project_max_workspace_bytes: int | None = Field(default=None, ge=1)
    """Workspace storage one project may use: the sum of its environments' last measured usage.
    An upload that would pass it and a new agent interaction while the project has reached it are
    refused with 429 and ``Retry-After``; see the README for when usage is measured. ``None`` (the
    default): no limit."""
    keep_warm_seconds: float | None = Field(default=900.0, gt=0)
    """How long an environment's box is kept (paused) after a run, so a follow-up turn finds its
    shell and Python sessions and background processes; past it the box stops and the workspace
    stays. ``None``: boxes stop when their run ends."""
    warm_pool_size: int = Field(default=1, ge=0)
    """Pre-started boxes kept per sandbox spec for new environments (0: none)."""
    warm_max_boxes: int = Field(default=200, ge=0)
    """Most boxes kept warm (paused) at once; the least recently used stop first."""
    warm_min_free_mb: int = Field(default=1024, ge=0)
    """Host memory (MemAvailable) below which kept boxes stop, least recently used first, and the
    warm pool is not refilled."""
    warm_shapes: int = Field(default=4, ge=1)
    """Sandbox shapes (image, resources, env, with or without network) of recent runs that new
    environments get ``warm_pool_size`` pre-started boxes of each; the least recently used shape
    past it, or one unused for 30 minutes (not the most recent), stops being refilled and its boxes
    go with their empty workspaces."""

    # --- webhooks ----------------------------------------------------------------------------------
    webhook_max_attempts: int = Field(default=6, ge=1)
    """Attempts per delivery (the first one included) before it is given up as failed."""
    webhook_retry_seconds: float = Field(default=10.0, gt=0)
    """Delay before the first retry; it doubles after each failed attempt (10 s → ~5 min in all)."""
    webhook_retry_max_seconds: float = Field(default=600.0, gt=0)
    """Upper bound of one retry delay."""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    """Time a receiver has to answer one delivery."""
    webhook_jwt_key_file: Path | None = None
    """PEM RSA private key signing (RS256 JWT) deliveries to per-request ``webhook_config`` URIs;
    default ``webhook_jwt_key.pem`` in ``data_dir``, generated there (mode 0600) when missing.
    Servers behind one public URL must share it (their JWKS at ``/.well-known/jwks.json``)."""

    # --- triggers ----------------------------------------------------------------------------------
    trigger_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    """How often the scheduler looks for due trigger ticks and finished or overdue executions (a
    tick starts at most this late)."""

    # --- credentials (secrets injected by the egress proxy) -----------------------------------------
    credentials_key: SecretStr | None = None
    """Key encrypting credentials at rest: a Fernet key (``python -c "from cryptography.fernet import
    Fernet; print(Fernet.generate_key().decode())"``). Unset: one is generated once into
    ``data_dir/credentials.key`` (mode 0600). Losing the key loses every stored credential."""
    egress_upstream_ca: Path | None = None
    """PEM file of extra CA certificates the egress proxy trusts, besides the system ones, when it
    terminates TLS to inject a credential (a private upstream; tests' own HTTPS servers)."""

    # --- outbound requests for tenants (webhooks, MCP servers) ------------------------------------
    outbound_allow_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    """Hosts the server may contact for a tenant although they are loopback, private or otherwise
    internal (comma-separated; ``name`` allows every port, ``name:port`` / ``[v6]:port`` one port).
    Compared with the URL's host as written: allowing ``127.0.0.1`` does not allow ``127.1``."""

    @field_validator("outbound_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("outbound_allow_hosts")
    @classmethod
    def _check_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not _ALLOW_HOST.match(entry):
                raise ValueError(f"{entry!r} is not a host or host:port (e.g. hooks.lan, 10.0.0.5:9000)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_environment(cls, data: Any) -> Any:
        check_environment(os.environ)
        return data

    @property
    def cli_sandbox_namespace(self) -> str:
        """Namespace of boxes made by one-off commands (``hangar run``, ``hangar sandbox``): apart
        from the server's, whose reaper would otherwise take them for orphans of its own."""
        return f"{self.sandbox_namespace[:27]}-cli"

    @property
    def resolved_public_url(self) -> str:
        """``public_url``, else the address this server listens on (a wildcard one as loopback)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}{self.path_prefix}"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'hangar.db'}"


def _setting_names() -> tuple[frozenset[str], frozenset[str]]:
    """The ``HANGAR_*`` names of the settings, and the other names some settings are read from."""
    prefixed: set[str] = set()
    aliases: set[str] = set()
    for name, field in Settings.model_fields.items():
        if isinstance(field.validation_alias, AliasChoices):
            aliases.update(str(choice).upper() for choice in field.validation_alias.choices)
        else:
            prefixed.add(f"{ENV_PREFIX}{name.upper()}")
    return frozenset(prefixed), frozenset(aliases - prefixed)


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuses ``HANGAR_*`` variables that are no setting: a removed one (naming what replaced it)
    or an unknown one (with the nearest setting's name). Names are compared case-insensitively,
    as the settings themselves are read.

    Raises:
        SettingsError: one line naming every such variable.
    """
    settings, aliases = _setting_names()
    known = settings | OTHER_HANGAR_VARIABLES
    problems = []
    for variable in sorted(name.upper() for name in environ if name.upper().startswith(ENV_PREFIX)):
        if variable in REMOVED_SETTINGS:
            problems.append(f"{variable} was removed: {REMOVED_SETTINGS[variable]}")
        elif variable not in known:
            problems.append(f"{variable} is not a Hangar setting{_did_you_mean(variable, settings, aliases)}")
    if problems:
        raise SettingsError("; ".join(problems))


def _did_you_mean(variable: str, settings: frozenset[str], aliases: frozenset[str]) -> str:
    bare = variable.removeprefix(ENV_PREFIX)
    if bare in aliases:  # the model key's variables are read without the prefix
        return f" (did you mean {bare}?)"
    close = difflib.get_close_matches(bare, sorted(name.removeprefix(ENV_PREFIX) for name in settings), n=1)
    return f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else " (see the settings in runtime/config.py)"
