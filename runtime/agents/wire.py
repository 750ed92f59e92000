"""The parts of an agent definition that mirror the Interactions API Agent resource (spec §3.4, §3.7, §7).

Strict (``extra="forbid"``) because they are read from agent files, where an unknown key is a typo.
Where the API leaves a field optional but an agent file would be useless without it (a function
tool without a name), it is required here.
"""

from __future__ import annotations

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
from runtime.sandboxd.egress_policy import validate_pattern

WORKSPACE = "/workspace"


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
    credential: str | None = None
    """Id of a credential the egress proxy injects on matching requests (not served yet: refused)."""
    transform: (
        Annotated[
            Annotated[dict[str, str], Tag("object")] | Annotated[list[dict[str, str]], Tag("list")],
            Discriminator(_shape),
        ]
        | None
    ) = None
    """Headers the egress proxy sets on matching requests (not applied yet: refused)."""

    @field_validator("domain")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        return value if value == "*" else validate_pattern(value)

    @field_validator("credential")
    @classmethod
    def _no_credential(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("credentials are not served yet")
        return value

    @field_validator("transform")
    @classmethod
    def _no_transform(cls, value: object) -> object:
        if value is not None:
            raise ValueError("header transforms are not applied by the egress proxy yet")
        return value


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
    credential: str | None = None
    """Id of a credential whose secret becomes the value (not served yet: refused)."""

    @field_validator("credential")
    @classmethod
    def _no_credential(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("credentials are not served yet; give a literal value")
        return value

    @model_validator(mode="after")
    def _has_value(self) -> Self:
        if self.value is None:
            raise ValueError("'value' is required")
        return self

    def literal(self) -> str:
        return self.value or ""


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
