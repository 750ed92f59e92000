"""What a tenant may ask of an environment (spec §3.7, §16), checked when the request arrives.

An environment object — on an interaction, on ``POST /environments`` or as an agent's
``base_environment`` — is validated whole at create time, so a bad value is a 400 naming the field
and never a failed run later:

* ``sources``: ``inline`` (≤1 MB a file, 2 MB in all) and ``repository`` (an ``http(s)`` git URL of a
  named host, optionally ``#ref``) are placed in the workspace; ``gcs`` and ``skill_registry`` cannot
  be fetched by this server and are refused.
* ``env``: literal values, or ``{"credential": ID}`` (the box sees the placeholder
  ``__GEMINI_CRED_<ID>__``; the egress proxy substitutes it for the credential's domains). Names the
  sandbox itself depends on (the proxy and CA-bundle variables, ``PATH``, ``PYTHON*``, ``LD_*``, ...)
  are refused. A rule's ``credential`` and ``transform`` are applied by the egress proxy; the
  credentials named must be the project's (checked by the environment service).
* ``network``: ``disabled`` or an allowlist. Open egress (``*``) is the operator's decision
  (``HANGAR_ALLOW_OPEN_EGRESS``), never a tenant's. No ``network`` at all means what the operator
  allows: open egress when it is allowed (Google's default), else disabled.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from runtime.agents.wire import AllowlistEntry, Environment, InteractionEnvironment, NetworkConfig, Source
from runtime.errors import InputError
from runtime.sandboxd.egress_policy import validate_pattern
from runtime.service.wire import describe

INLINE_FILE_MAX = 1024 * 1024
INLINE_TOTAL_MAX = 2 * 1024 * 1024
OPEN_EGRESS_SETTING = "HANGAR_ALLOW_OPEN_EGRESS"
DISABLED = "disabled"
OPEN: dict[str, Any] = {"allowlist": [{"domain": "*"}]}
_RESERVED_ENV = re.compile(
    r"^(PATH|HOME|USER|SHELL|HOSTNAME|(HTTPS?|NO|ALL|FTP)_PROXY|PYTHON.*|LD_.*|HANGAR_.*|SANDBOXD_.*"
    r"|SSL_CERT_FILE|REQUESTS_CA_BUNDLE|PIP_CERT|GIT_SSL_CAINFO|NODE_EXTRA_CA_CERTS|CURL_CA_BUNDLE)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class EgressPolicy:
    """The operator's egress settings, as far as tenants' requests are concerned."""

    allow_open: bool = False
    """Tenants may ask for open egress (``*``), and an environment without ``network`` gets it."""

    def default_network(self) -> Any:
        """The network of an environment that names none."""
        return OPEN if self.allow_open else DISABLED


@dataclass(frozen=True)
class Repository:
    url: str
    """The clone URL (without the ``#ref``)."""
    host: str
    ref: str | None


def parse_environment(data: Any, where: str) -> InteractionEnvironment:
    """The environment object of a request. Raises :class:`InputError` naming the field."""
    try:
        return InteractionEnvironment.model_validate(data)
    except ValidationError as e:
        raise InputError(f"invalid {where}: {describe(e, where)}") from e


def check_environment(env: Environment, where: str, policy: EgressPolicy) -> None:
    """Raise :class:`InputError` naming the first field of ``env`` this server cannot apply."""
    check_sources(env.sources or [], f"{where}.sources")
    for name in env.env or {}:
        _check_env(name, f"{where}.env.{name}")
    if env.network is not None:
        check_network(env.network, f"{where}.network", policy)


def check_sources(sources: list[Source], where: str) -> None:
    total = 0
    for i, source in enumerate(sources):
        at = f"{where}[{i}]"
        if source.target is None:
            raise InputError(f"{at}.target: required (where the source lands, e.g. /workspace/data)")
        kind = source.type or ("inline" if source.content is not None else None)
        if kind == "inline":
            total += len(inline_bytes(source, at))
        elif kind == "repository":
            repository(source, at)
        elif kind in ("gcs", "skill_registry"):
            raise InputError(
                f"{at}.type: {kind} sources cannot be fetched by this server; use an inline or "
                "repository source, or upload the files to the environment"
            )
        else:
            raise InputError(f"{at}.type: required ('inline' with content, or 'repository' with source)")
        if total > INLINE_TOTAL_MAX:
            raise InputError(f"{where}: inline sources hold more than {INLINE_TOTAL_MAX} bytes in all")


def inline_bytes(source: Source, at: str) -> bytes:
    """The bytes of an inline source. Raises :class:`InputError` naming the field."""
    if source.content is None:
        raise InputError(f"{at}.content: required for an inline source")
    if source.encoding == "base64":
        try:
            data = base64.b64decode(source.content, validate=True)
        except binascii.Error as e:
            raise InputError(f"{at}.content: not valid base64") from e
    elif source.encoding in (None, "", "utf-8"):
        data = source.content.encode()
    else:
        raise InputError(f"{at}.encoding: use 'base64' or leave it unset")
    if len(data) > INLINE_FILE_MAX:
        raise InputError(f"{at}.content: {len(data)} bytes; an inline source holds at most {INLINE_FILE_MAX}")
    return data


def repository(source: Source, at: str) -> Repository:
    """The repository a source names. Raises :class:`InputError` naming the field."""
    if source.content is not None:
        raise InputError(f"{at}.content: only inline sources have content")
    if not source.source:
        raise InputError(f"{at}.source: required (the repository's URL, e.g. https://github.com/org/repo)")
    text, _, ref = source.source.partition("#")
    if "://" not in text:
        text = f"https://{text}"  # "github.com/org/repo", as Google's docs write GitHub paths
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http"):
        raise InputError(f"{at}.source: only http(s) repository URLs are supported, not {parts.scheme}")
    if parts.username or parts.password:
        raise InputError(f"{at}.source: credentials in the URL are refused; credentials are not served yet")
    try:
        host = validate_pattern(parts.hostname or "")
    except ValueError as e:
        raise InputError(f"{at}.source: the repository's host must be a domain name ({e})") from e
    if host.startswith("*."):
        raise InputError(f"{at}.source: the repository's host must be a domain name")
    if ref and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}", ref):
        raise InputError(f"{at}.source: invalid ref {ref!r} after '#'")
    return Repository(url=parts._replace(fragment="").geturl(), host=host, ref=ref or None)


def _check_env(name: str, at: str) -> None:
    if _RESERVED_ENV.match(name):
        raise InputError(f"{at}: {name} is set by the sandbox itself and cannot be changed")


def check_network(network: Any, where: str, policy: EgressPolicy) -> None:
    """Refuse open egress the operator did not allow, and rule fields that cannot be applied."""
    if not isinstance(network, NetworkConfig) or not isinstance(network.allowlist, list):
        return
    for i, entry in enumerate(network.allowlist):
        _check_rule(entry, f"{where}.allowlist[{i}]", policy)


def _check_rule(entry: AllowlistEntry, at: str, policy: EgressPolicy) -> None:
    if entry.domain == "*" and not policy.allow_open:
        raise InputError(
            f"{at}.domain: '*' (open egress) is not allowed on this server; the operator decides it "
            f"({OPEN_EGRESS_SETTING}). List the domains the sandbox needs instead"
        )


def check_agent_environment(base: Environment | str | None, policy: EgressPolicy) -> None:
    """An API agent's ``base_environment`` object, checked as a tenant's (an environment id is
    checked by the caller: it must name one of the project's environments)."""
    if isinstance(base, Environment):
        check_environment(base, "base_environment", policy)
