"""The parts of an agent definition that mirror the Interactions API Agent resource (spec §3.4, §3.7, §7).

Strict (``extra="forbid"``) because they are read from agent files, where an unknown key is a typo.
Where the API leaves a field optional but an agent file would be useless without it (a function
tool without a name), it is required here.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from runtime.agents.paths import check_workspace
from runtime.sandbox.egress_credentials import placeholder
from runtime.sandboxd.egress_policy import validate_pattern

WORKSPACE = "/workspace"
_CREDENTIAL_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}\Z")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e\t]{0,8192}\Z")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def _shape(value: object) -> str:
    """Picks the branch of a string/object/list union, so that a bad value reports only the errors
    of the branch it was meant for (not also "should be a string")."""
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


# --- Tools (the ``AgentTool`` subset of §3.4) ----------------------------------------------------


class FunctionTool(_Strict):
    """A client-side function: a call pauses the run in ``requires_action`` until the caller answers."""

    type: Literal["function"]
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    """JSON Schema of the arguments (an ``object`` schema)."""


class CodeExecutionTool(_Strict):
    type: Literal["code_execution"]


class UrlContextTool(_Strict):
    type: Literal["url_context"]


class GoogleSearchTool(_Strict):
    type: Literal["google_search"]
    search_types: list[Literal["web_search", "image_search", "enterprise_web_search"]] | None = None


class GoogleMapsTool(_Strict):
    """Gemini's Google Maps grounding: places found on Google's side, near an optional location."""

    type: Literal["google_maps"]
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    enable_widget: bool | None = None
    """Ask for a widget context token (to render Google's Maps widget)."""


class AllowedTools(_Strict):
    mode: Literal["auto", "any", "none", "validated"] | None = None
    tools: list[str] | None = None
    """Tool names on the server; all of them when absent."""


class McpServerTool(_Strict):
    """A remote MCP server whose tools the model may call."""

    type: Literal["mcp_server"]
    name: str
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] | None = None
    """Sent with every request to the server (e.g. ``Authorization``)."""
    allowed_tools: list[AllowedTools] | None = None
    credential: str | None = Field(default=None, pattern=_CREDENTIAL_ID)
    """Id of a credential (``/credentials``) whose header the server adds when it connects (an
    ``environment_variable`` credential replaces its placeholder in ``headers`` instead)."""


AgentTool = Annotated[
    FunctionTool | CodeExecutionTool | UrlContextTool | GoogleSearchTool | GoogleMapsTool | McpServerTool,
    Field(discriminator="type"),
]

# --- agent_config (AntigravityAgentConfig, §3.6) --------------------------------------------------

Int64 = Annotated[
    int,
    Field(ge=1),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[0-9]+$"}]}),
]
"""An int64 the SDK serialises as a JSON string: an integer or a string of digits is accepted."""


class AgentConfig(_Strict):
    type: Literal["antigravity"] = "antigravity"
    """The only agent_config the Agent resource accepts."""
    model: str | None = None
    """Model id (open enum, spec §3.9), e.g. ``gemini-3.1-pro-preview``."""
    max_total_tokens: Int64 | None = None
    """Token budget of one run (input + output + thoughts); the run ends ``budget_exceeded`` past it."""


# --- base_environment (§3.7) ---------------------------------------------------------------------


def _source_target(value: str) -> str:
    """A workspace path: relative, or absolute under ``/workspace`` (as Google's docs write it)."""
    if value.startswith("/"):
        parts = PurePosixPath(value).parts
        if parts[:2] != ("/", "workspace"):
            raise PydanticCustomError(
                "workspace_path", "'{path}' is outside the workspace: use a path under /workspace",
                {"path": value},
            )
        if len(parts) == 2:
            raise PydanticCustomError(
                "workspace_path", "'{path}' names the workspace itself", {"path": value}
            )
        value = "/".join(parts[2:])
    return check_workspace(value)


SourceTarget = Annotated[
    str,
    AfterValidator(_source_target),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"^(?!.*(^|/)\.\.(/|$)).+$"}),
]
"""Where a source lands: relative to the workspace, or absolute under ``/workspace``; never the
workspace itself and never outside it."""


class Source(_Strict):
    """Something placed in the environment's workspace before the run."""

    type: Literal["gcs", "inline", "repository", "skill_registry"] | None = None
    source: str | None = None
    """GCS path, or the repository's git URL (``https://host/org/repo``, optionally ``#ref``)."""
    target: SourceTarget | None = None
    """Where it lands: relative to the workspace or absolute under ``/workspace``."""
    content: str | None = None
    """Inline content (``type: inline``)."""
    encoding: str | None = None
    """Encoding of ``content``, e.g. ``base64``."""


class AllowlistEntry(_Strict):
    domain: str
    """Domain the box may reach; wildcards like ``*.googleapis.com``; ``*`` allows all."""
    credential: str | None = Field(default=None, pattern=_CREDENTIAL_ID)
    """Id of a credential (``/credentials``) the egress proxy injects on matching requests."""
    transform: (
        Annotated[
            Annotated[dict[str, str], Tag("object")] | Annotated[list[dict[str, str]], Tag("list")],
            Discriminator(_shape),
        ]
        | None
    ) = None
    """Headers the egress proxy sets on matching requests (values may hold credential placeholders)."""

    @field_validator("domain")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        return value if value == "*" else validate_pattern(value)

    @field_validator("transform")
    @classmethod
    def _valid_headers(cls, value: object) -> object:
        groups: list[dict[str, str]] = (
            value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        )
        for headers in groups:
            for name, text in headers.items():
                if not _HEADER_NAME.match(name) or not _HEADER_VALUE.match(text):
                    raise ValueError(
                        f"header {name[:64]!r}: needs a header name and a value without control characters"
                    )
        return value

    @model_validator(mode="after")
    def _injection_needs_a_domain(self) -> Self:
        if self.domain == "*" and (self.credential or self.transform):
            raise ValueError("credential and transform need a domain, not '*'")
        return self

    def headers(self) -> tuple[tuple[str, str], ...]:
        """``transform`` as ``(name, value)`` pairs, in order."""
        groups = self.transform if isinstance(self.transform, list) else [self.transform or {}]
        return tuple((name, value) for group in groups for name, value in group.items())


class NetworkConfig(_Strict):
    allowlist: Annotated[
        Annotated[Literal["disabled"], Tag("string")] | Annotated[list[AllowlistEntry], Tag("list")],
        Discriminator(_shape),
    ]


Network = Annotated[
    Annotated[Literal["disabled"], Tag("string")] | Annotated[NetworkConfig, Tag("object")],
    Discriminator(_shape),
]


class EnvVar(_Strict):
    value: str | None = None
    credential: str | None = Field(default=None, pattern=_CREDENTIAL_ID)
    """Id of a credential: the box sees only its placeholder ``__GEMINI_CRED_<ID>__``, which the
    egress proxy replaces by the secret on requests to the credential's domains."""

    @model_validator(mode="after")
    def _has_value(self) -> Self:
        if (self.value is None) == (self.credential is None):
            raise ValueError("give either 'value' or 'credential'")
        return self

    def literal(self) -> str:
        return placeholder(self.credential) if self.credential else self.value or ""


_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Environment(_Strict):
    type: Literal["remote"] = "remote"
    sources: list[Source] | None = None
    env: (
        dict[
            Annotated[str, Field(pattern=_ENV_NAME)],
            Annotated[
                Annotated[str, Tag("string")] | Annotated[EnvVar, Tag("object")], Discriminator(_shape)
            ],
        ]
        | None
    ) = None
    """Environment variables of the sandbox."""
    network: Network | None = None
    """Egress: ``disabled`` or an allowlist of domains enforced outside the box."""

    def literal_env(self) -> dict[str, str]:
        """``env`` as plain values."""
        return {k: v if isinstance(v, str) else v.literal() for k, v in (self.env or {}).items()}

    def egress_injections(self) -> dict[str, Any]:
        """``SandboxSpec`` fields of the allowlist's credentials and transforms, and of the
        credentials ``env`` names (their placeholders)."""
        rules = [
            {"domain": e.domain, "credential": e.credential, "headers": e.headers()}
            for e in (self.network.allowlist if isinstance(self.network, NetworkConfig)
                      and isinstance(self.network.allowlist, list) else [])
            if e.credential or e.transform
        ]
        values = (self.env or {}).values()
        ids = sorted({v.credential for v in values if isinstance(v, EnvVar) and v.credential})
        return {"egress_rules": rules, "egress_placeholders": tuple(ids)}

    def credential_ids(self) -> list[str]:
        found = self.egress_injections()
        return sorted({r["credential"] for r in found["egress_rules"] if r["credential"]}
                      | set(found["egress_placeholders"]))

    def wants_egress(self) -> bool | None:
        """Whether ``network`` asks for egress; ``None`` when it says nothing."""
        if self.network is None:
            return None
        if self.network == "disabled":
            return False
        return self.network.allowlist != "disabled" and bool(self.network.allowlist)

    def allowed_domains(self) -> tuple[str, ...] | None:
        """The allowlist's domains; ``None`` when it allows every domain (``*``) or no egress."""
        if not self.wants_egress() or not isinstance(self.network, NetworkConfig):
            return None
        assert isinstance(self.network.allowlist, list)
        domains = tuple(entry.domain for entry in self.network.allowlist)
        return None if "*" in domains else domains


class InteractionEnvironment(Environment):
    """The ``environment`` object of an interaction: an environment, or changes to an existing one."""

    environment_id: str | None = Field(default=None, max_length=200)
    """Apply to this existing environment (its ``network`` is replaced, its files kept)."""


EnvironmentOrId = Annotated[
    Annotated[Environment, Tag("object")] | Annotated[str, Tag("string")],
    Discriminator(_shape),
]
"""An environment object, or the id of an existing environment."""
