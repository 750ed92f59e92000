"""What the egress proxy injects, as the sandbox layer sees it: rules name credentials by id, and a
:class:`CredentialSource` (the server's credential service) turns ids into secrets when a box's
policy is written, and again before they expire. The sandbox layer never stores a secret."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

PLACEHOLDER = "__GEMINI_CRED_{id}__"
"""What a box sees in place of a credential's secret (an ``env`` value ``{"credential": ID}``)."""


def placeholder(credential_id: str) -> str:
    return PLACEHOLDER.format(id=credential_id)


@dataclass(frozen=True)
class ResolvedCredential:
    id: str
    value: str = field(repr=False)
    """What the placeholder becomes (the token, the access token, the variable's value)."""
    header: tuple[str, str] | None = field(default=None, repr=False)
    """``(name, value)`` set on requests to the domains of the rules that name the credential
    (bearer and OAuth2 credentials)."""
    locations: tuple[str, ...] = ("header",)
    """Where the placeholder is substituted: ``header``, ``query``, ``body``."""
    trusted_domains: tuple[str, ...] = ()
    """Domain patterns the placeholder is substituted for besides its rules' domains."""
    expires_at: float | None = None
    """When ``value`` stops working (an OAuth2 access token): the policy is refreshed before."""


class CredentialSource(Protocol):
    async def resolve(self, scope: str, ids: Sequence[str]) -> dict[str, ResolvedCredential]:
        """The active credentials of ``scope`` (a project) among ``ids``; unknown ids are left out."""
        ...
