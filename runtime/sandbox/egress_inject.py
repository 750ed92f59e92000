"""Turning a box's egress rules into the proxy's injection table (host side).

For each credential a box refers to (an allowlist rule's ``credential``, an ``env`` placeholder), its
domains are the patterns of the rules naming it plus its ``trusted_domains``: only requests to
those get its header or its placeholder replaced. A credential that cannot be resolved (deleted,
another project's, an OAuth2 grant that stopped working) injects nothing: the placeholder then
travels as it is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.egress_credentials import CredentialSource, ResolvedCredential, placeholder
from runtime.sandboxd.egress_policy import validate_pattern


@dataclass
class Plan:
    """Per domain pattern: headers to set and placeholders to replace (no certificate yet)."""

    headers: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    substitute: dict[str, list[tuple[str, str, tuple[str, ...]]]] = field(
        default_factory=lambda: defaultdict(list), repr=False
    )
    expires_at: float | None = None

    @property
    def domains(self) -> list[str]:
        return sorted(set(self.headers) | set(self.substitute))


def needs_injection(spec: SandboxSpec) -> bool:
    return bool(spec.egress_rules or spec.egress_placeholders)


async def plan(spec: SandboxSpec, source: CredentialSource | None) -> Plan:
    """The injection table of ``spec``; credentials resolved through ``source`` in the spec's scope."""
    ids = [r.credential for r in spec.egress_rules if r.credential] + list(spec.egress_placeholders)
    resolved: dict[str, ResolvedCredential] = {}
    if ids and source is not None and spec.credential_scope is not None:
        resolved = await source.resolve(spec.credential_scope, ids)
    table = Plan()
    domains: dict[str, set[str]] = defaultdict(set)
    for rule in spec.egress_rules:
        table.headers[rule.domain].extend(rule.headers)
        credential = resolved.get(rule.credential or "")
        if credential is not None:
            domains[credential.id].add(rule.domain)
            if credential.header is not None:
                table.headers[rule.domain].append(credential.header)
    for credential in resolved.values():
        for pattern in domains[credential.id] | {validate_pattern(d) for d in credential.trusted_domains}:
            entry = (placeholder(credential.id), credential.value, credential.locations)
            table.substitute[pattern].append(entry)
        if credential.expires_at is not None:
            table.expires_at = min(table.expires_at or credential.expires_at, credential.expires_at)
    return table
