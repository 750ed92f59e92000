"""Egress rules, shared by the host (which validates and registers them) and the egress proxy
(which enforces them). Stdlib only: this module runs inside the sandbox image.

A pattern is a domain (``pypi.org``: that host only) or a wildcard (``*.github.com``: any host
below ``github.com``, not ``github.com`` itself). IP addresses are never patterns: an allowlist
names domains, and the proxy resolves them itself.

Policy: one JSON file per box, ``<sandbox id>.json``, written atomically by the host into a
directory mounted read-only into the proxy:
``{"sandbox_id": "...", "open": false, "domains": [patterns], "private_hosts": [patterns]}``.
``open`` boxes (``network="egress"``) may name any host, allowlist boxes only ``domains``; either
way the address a name resolves to is checked (:func:`address_problem`). ``private_hosts`` is the
operator's list of hosts that may resolve to private addresses; a box's rule alone never reaches one.

``inject`` (optional) lists what the proxy adds to the box's requests to some domains:
``[{"domain": pattern, "headers": [[name, value]], "substitute": [[placeholder, value, [locations]]],
"cert": file}]``; for those domains the proxy terminates TLS with ``cert`` (a leaf certificate and
key of the namespace's CA, a file below the policy directory) and verifies the upstream itself
(system CAs, plus ``upstream_ca``, a file the operator adds). A file with ``inject`` holds secrets:
the host writes it readable by the proxy's user only.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

POLICY_SUFFIX = ".json"
BOX_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_PATTERN = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})+\Z")
_HOST = re.compile(rf"^{_LABEL}(\.{_LABEL})*\Z")

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_TUNNELS = (ipaddress.ip_network("2001::/32"), ipaddress.ip_network("64:ff9b:1::/48"))
"""Teredo and local-use NAT64: their IPv4 end is not checkable from the address, so refused."""


def validate_pattern(value: str) -> str:
    """``value`` in lower case; raises ``ValueError`` saying what a valid pattern looks like."""
    pattern = value.lower()
    hint = "expected a domain like 'pypi.org' or a wildcard like '*.github.com'"
    if len(pattern) > 253 or not _PATTERN.match(pattern):
        raise ValueError(f"invalid domain pattern {value!r}: {hint}")
    if pattern.rsplit(".", 1)[-1].isdigit():
        raise ValueError(f"invalid domain pattern {value!r}: IP addresses are not allowed; name a domain")
    return pattern


def literal_address(host: str) -> str | None:
    """The canonical address ``host`` spells, if it is an IP literal in any form the C library
    accepts (``[::1]``, ``127.1``, ``0x7f.0.0.1``, ``0177.0.0.1``, ``2130706433``); else ``None``."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def is_ip_literal(host: str) -> bool:
    return literal_address(host) is not None


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


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, SIIT, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _SIIT or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(address: str, private_ok: bool) -> str | None:
    """Why the proxy must not connect to a resolved ``address``, else ``None`` (the SSRF guard).
    An IPv6 address that embeds an IPv4 one is judged by the IPv4 address too."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a scope (``fe80::1%eth0``) changes nothing
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _TUNNELS):
            return f"{ip} is a Teredo or local NAT64 address"
        inner = embedded_ipv4(ip)
        if inner is not None:
            problem = address_problem(str(inner), private_ok)
            return f"{ip} embeds {problem}" if problem else None
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return f"{ip} is a loopback, link-local, multicast or reserved address"
    if not ip.is_global and not private_ok:
        return f"{ip} is a private address"
    return None


@dataclass(frozen=True)
class Injection:
    domain: str
    headers: tuple[tuple[str, str], ...] = ()
    """Set on every request to ``domain`` (replacing the box's header of that name)."""
    substitute: tuple[tuple[str, str, tuple[str, ...]], ...] = field(default=(), repr=False)
    """``(placeholder, secret, locations)``: replaced in the request's ``header``, ``query``, ``body``."""
    cert: str = ""
    """The leaf certificate + key file, relative to the policy directory."""

    def to_dict(self) -> dict[str, object]:
        return {"domain": self.domain, "headers": [list(h) for h in self.headers],
                "substitute": [[p, v, list(locs)] for p, v, locs in self.substitute], "cert": self.cert}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Injection:
        headers = data.get("headers") or []
        substitute = data.get("substitute") or []
        assert isinstance(headers, list) and isinstance(substitute, list)
        cert = str(data.get("cert") or "")
        if cert.startswith("/") or ".." in cert.split("/"):
            raise ValueError(f"invalid certificate path {cert!r}")
        return cls(
            validate_pattern(str(data["domain"])),
            tuple((str(n), str(v)) for n, v in headers),
            tuple((str(p), str(v), tuple(str(x) for x in locs)) for p, v, locs in substitute),
            cert,
        )


@dataclass(frozen=True)
class BoxRule:
    sandbox_id: str
    domains: tuple[str, ...] = ()
    open: bool = False
    """Any host name (``network="egress"``); addresses are checked all the same."""
    private_hosts: tuple[str, ...] = ()
    inject: tuple[Injection, ...] = field(default=(), repr=False)
    upstream_ca: str = ""
    """Extra CAs (a file relative to the policy directory) for upstreams the proxy verifies."""

    def allows(self, host: str) -> bool:
        return self.open or matches(host, self.domains)

    def injections(self, host: str) -> list[Injection]:
        """What applies to requests to ``host`` (the proxy terminates TLS when any does)."""
        return [i for i in self.inject if matches(host, (i.domain,))]

    def to_json(self) -> str:
        data: dict[str, object] = {
            "sandbox_id": self.sandbox_id, "open": self.open, "domains": list(self.domains),
            "private_hosts": list(self.private_hosts),
        }
        if self.inject:
            data["inject"] = [i.to_dict() for i in self.inject]
        if self.upstream_ca:
            data["upstream_ca"] = self.upstream_ca
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BoxRule:
        data = json.loads(text)
        sandbox_id = str(data["sandbox_id"])
        if not BOX_ID.match(sandbox_id):
            raise ValueError(f"invalid sandbox id {sandbox_id!r}")
        upstream_ca = str(data.get("upstream_ca") or "")
        if upstream_ca.startswith("/") or ".." in upstream_ca.split("/"):
            raise ValueError(f"invalid upstream CA path {upstream_ca!r}")
        return cls(
            sandbox_id, tuple(validate_pattern(d) for d in data.get("domains", [])), bool(data.get("open")),
            tuple(validate_pattern(p) for p in data.get("private_hosts", [])),
            tuple(Injection.from_dict(i) for i in data.get("inject", [])), upstream_ca,
        )


def write_rule(directory: Path, rule: BoxRule, owner: int | None = None) -> Path:
    """Write the box's policy file atomically (the proxy sees the old or the new one, never a mix).
    A rule with injections holds secrets: mode 0600, owned by ``owner`` (the proxy's user)."""
    path = directory / f"{rule.sandbox_id}{POLICY_SUFFIX}"
    tmp = directory / f".{rule.sandbox_id}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(rule.to_json())
    secret = bool(rule.inject)
    if secret and owner is not None:
        try:
            os.chown(tmp, owner, owner)
        except PermissionError:
            secret = False  # not root: the proxy (another uid) could not read a 0600 file
    tmp.chmod(0o600 if secret else 0o644)
    os.replace(tmp, path)
    return path


class PolicyDir:
    """The policy directory as the proxy reads it: rescanned when it changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._files: dict[str, tuple[int, int, int]] = {}
        self.rules: dict[str, BoxRule] = {}

    def scan(self) -> bool:
        """Reload what changed; returns whether the rules changed. An unreadable file is no rule
        (that box is denied: fails closed)."""
        try:
            st = os.stat(self.path)
        except OSError:
            changed = bool(self.rules)
            self._stamp, self._files, self.rules = None, {}, {}
            return changed
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        files: dict[str, tuple[int, int, int]] = {}
        rules: dict[str, BoxRule] = {}
        with os.scandir(self.path) as entries:
            for entry in entries:
                box_id = entry.name.removesuffix(POLICY_SUFFIX)
                if entry.name.startswith(".") or not entry.name.endswith(POLICY_SUFFIX):
                    continue
                rule = self._load(entry, box_id, files)
                if rule is not None:
                    rules[box_id] = rule
        changed = rules != self.rules
        self._files, self.rules = files, rules
        return changed

    def refresh(self, box_id: str) -> BoxRule | None:
        """The box's rule, its own file checked again: reloaded when its (inode, mtime, size)
        changed. A directory's mtime can stay the same across a write and a rename within one
        timestamp tick, so :meth:`scan` alone may keep a replaced rule."""
        path = self.path / f"{box_id}{POLICY_SUFFIX}"
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            self._files.pop(box_id, None)
            self.rules.pop(box_id, None)
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._files.get(box_id) == stamp and box_id in self.rules:
            return self.rules[box_id]
        self._files[box_id] = stamp
        try:
            rule: BoxRule | None = BoxRule.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            rule = None
        if rule is None or rule.sandbox_id != box_id:
            self.rules.pop(box_id, None)  # unreadable: no rule (fails closed)
            return None
        self.rules[box_id] = rule
        return rule

    def _load(
        self, entry: os.DirEntry[str], box_id: str, files: dict[str, tuple[int, int, int]]
    ) -> BoxRule | None:
        try:
            st = entry.stat(follow_symlinks=False)
            files[box_id] = (st.st_ino, st.st_mtime_ns, st.st_size)
            if self._files.get(box_id) == files[box_id] and box_id in self.rules:
                return self.rules[box_id]
            rule = BoxRule.from_json(Path(entry.path).read_text())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return rule if rule.sandbox_id == box_id else None
