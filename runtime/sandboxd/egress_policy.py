"""Egress allowlist rules, shared by the host (which validates and registers them) and the egress
proxy (which enforces them). Stdlib only: this module runs inside the sandbox image.

A pattern is a domain (``pypi.org``: that host only) or a wildcard (``*.github.com``: any host
below ``github.com``, not ``github.com`` itself). IP addresses are never patterns: an allowlist
names domains, and the proxy resolves them itself.

The policy file (JSON, written atomically by the host into a directory bind-mounted into the proxy):
``{"private_hosts": [patterns], "boxes": {"<box ip>": {"sandbox_id": "...", "domains": [...]}}}``.
``private_hosts`` is the operator's list of hosts that may resolve to private addresses; an agent's
allowlist alone never reaches a private network.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

POLICY_FILE = "policy.json"
READY_FILE = "ready"

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_PATTERN = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})+\Z")
_HOST = re.compile(rf"^{_LABEL}(\.{_LABEL})*\Z")


def validate_pattern(value: str) -> str:
    """``value`` in lower case; raises ``ValueError`` saying what a valid pattern looks like."""
    pattern = value.lower()
    hint = "expected a domain like 'pypi.org' or a wildcard like '*.github.com'"
    if len(pattern) > 253 or not _PATTERN.match(pattern):
        raise ValueError(f"invalid domain pattern {value!r}: {hint}")
    if pattern.rsplit(".", 1)[-1].isdigit():
        raise ValueError(f"invalid domain pattern {value!r}: IP addresses are not allowed; name a domain")
    return pattern


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def normalize_host(host: str) -> str | None:
    """The host name a request names, in lower case; ``None`` when it is not a plain DNS name."""
    host = host.lower().removesuffix(".")
    return host if len(host) <= 253 and _HOST.match(host) else None


def matches(host: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether the normalized ``host`` is allowed by one of ``patterns``."""
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def address_problem(address: str, private_ok: bool) -> str | None:
    """Why the proxy must not connect to a resolved ``address``, else ``None`` (the SSRF guard)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return f"{ip} is a loopback, link-local, multicast or reserved address"
    if not ip.is_global and not private_ok:
        return f"{ip} is a private address"
    return None


@dataclass(frozen=True)
class BoxRule:
    sandbox_id: str
    domains: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    boxes: dict[str, BoxRule] = field(default_factory=dict)
    """Box IP address -> its allowlist."""
    private_hosts: tuple[str, ...] = ()

    def to_json(self) -> str:
        boxes = {ip: {"sandbox_id": r.sandbox_id, "domains": list(r.domains)} for ip, r in self.boxes.items()}
        return json.dumps({"private_hosts": list(self.private_hosts), "boxes": boxes}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        data = json.loads(text)
        boxes = {
            str(ip): BoxRule(str(rule["sandbox_id"]), tuple(validate_pattern(d) for d in rule["domains"]))
            for ip, rule in data.get("boxes", {}).items()
        }
        return cls(boxes, tuple(validate_pattern(p) for p in data.get("private_hosts", [])))


def write_policy(directory: Path, policy: Policy) -> None:
    """Replace the policy file atomically (the proxy sees the old or the new one, never a mix)."""
    tmp = directory / f".{POLICY_FILE}.tmp"
    tmp.write_text(policy.to_json())
    tmp.chmod(0o644)
    os.replace(tmp, directory / POLICY_FILE)


class PolicyFile:
    """The policy file as the proxy reads it: reloaded whenever it was replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._policy = Policy()

    def current(self) -> Policy:
        """The latest policy; an unreadable or missing file denies everything (fails closed)."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                self._policy = Policy.from_json(self.path.read_text())
                self._stamp = stamp
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self._policy, self._stamp = Policy(), None
        return self._policy
