"""The one guard in front of every URL a tenant chose (webhook targets, MCP servers, hook handlers).

A tenant must not make the server talk to the host or its network: loopback, link-local (cloud
metadata at 169.254.169.254), private, shared, reserved, multicast and unspecified addresses are
refused in every spelling — IPv4 literals written in decimal, octal, hex or short form
(``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``), IPv6 literals, and IPv6 forms that carry an
IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, 6to4 ``2002::/16``,
Teredo, NAT64 ``64:ff9b::/96``). A host name is resolved and *every* address it resolves to must pass.

The checked address is then pinned for the connection: :meth:`OutboundGuard.client` gives an
HTTP client whose transport (:class:`PinnedTransport`) resolves and checks each request itself and
connects to that address, with ``Host`` and TLS SNI kept as the name, so a second DNS answer
(rebinding) cannot swap in another address. Redirects are not followed.

Every request for a tenant goes through ``httpx2`` (pydantic's continuation of httpx): the mcp
library's transports only take an ``httpx2.AsyncClient``, so webhooks, OAuth2 refreshes, hook
handlers and MCP servers share this one transport rather than one twin per HTTP library.

An operator may allow named hosts (``HANGAR_OUTBOUND_ALLOW_HOSTS``): an entry ``name`` allows that
host on any port, ``name:port`` (``[v6]:port``) only that port. The entry is compared with the URL's
host as written, so allowing ``127.0.0.1`` does not allow ``127.1`` or ``[::ffff:127.0.0.1]``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2

from runtime.errors import InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``; the default asks the system resolver (tests pass their own)."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPAT = ipaddress.ip_network("::/96")
_NUMERIC_V4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$", re.IGNORECASE)
_SCHEMES = {"http": 80, "https": 443}
RESOLVE_SECONDS = 10.0


class OutboundRefused(InputError):
    """A URL the server will not contact: bad scheme, unresolvable, or an internal address."""

    code = "outbound_url_refused"


@dataclass(frozen=True)
class Target:
    """A checked URL: its host as written, its port and the address to connect to."""

    host: str
    port: int
    address: str


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one in any spelling (``127.1``, ``0x7f000001``, …)."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _NUMERIC_V4.match(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64 or ip in _IPV4_COMPAT:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def refusal(ip: IPAddress) -> str | None:
    """Why the server must not connect to ``ip`` (``None``: it may)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        for inner in _embedded_v4(ip):
            why = refusal(inner)
            if why is not None:
                return f"an IPv6 form of {inner}, {why}"
        if ip.is_site_local:
            return "a site-local address"
    checks = (
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((why for bad, why in checks if bad), None)


class OutboundGuard:
    """Checks tenant-chosen URLs and makes the clients that contact them. Built once (the
    composition root, from the settings) and passed to whatever sends requests for a tenant."""

    def __init__(self, allow_hosts: tuple[str, ...] = (), *, resolver: Resolver | None = None) -> None:
        self.allow_hosts = tuple(entry.strip().lower() for entry in allow_hosts if entry.strip())
        self._resolve = resolver or system_resolver

    async def check(self, url: str) -> None:
        """Raises :class:`OutboundRefused` unless ``url`` is http(s) to a host the server may contact."""
        await self.target(url)

    async def check_field(self, field: str, url: str) -> None:
        """:meth:`check`, with the request field named in the refusal (``tools[0].url``)."""
        try:
            await self.target(url)
        except OutboundRefused as e:
            raise OutboundRefused(f"`{field}`: {e.message}") from e

    async def target(self, url: str) -> Target:
        """Resolve and check ``url``; the address to connect to (the first that resolved)."""
        host, port = _host_port(url)
        addresses = await self._addresses(host, port)
        if not self._allowed(host, port):
            for address in addresses:
                why = refusal(ipaddress.ip_address(address.split("%", 1)[0]))
                if why is not None:
                    shown = "" if address == host.strip("[]") else f" (resolves to {address})"
                    raise OutboundRefused(f"refused to contact host {host!r}{shown}: {why}")
        return Target(host=host, port=port, address=addresses[0])

    def client(self, *, timeout: float, headers: Mapping[str, str] | None = None) -> httpx2.AsyncClient:
        """An ``httpx2.AsyncClient`` whose every request is resolved, checked and pinned; it never
        follows redirects. A refused request raises :class:`OutboundRefused`."""
        return httpx2.AsyncClient(
            transport=self.transport(),
            timeout=timeout,
            headers=dict(headers or {}),
            follow_redirects=False,
            trust_env=False,
        )

    def transport(self) -> PinnedTransport:
        """The pinning transport alone, for a client another library configures (the mcp one)."""
        return PinnedTransport(self)

    def _allowed(self, host: str, port: int) -> bool:
        name = host.lower().rstrip(".")
        return name in self.allow_hosts or f"{name}:{port}" in self.allow_hosts

    async def _addresses(self, host: str, port: int) -> list[str]:
        literal = literal_address(host)
        if literal is not None:
            return [str(literal)]
        try:
            async with asyncio.timeout(RESOLVE_SECONDS):
                addresses = await self._resolve(host, port)
        except (OSError, UnicodeError, TimeoutError) as e:
            raise OutboundRefused(f"host {host!r} does not resolve") from e
        if not addresses:
            raise OutboundRefused(f"host {host!r} does not resolve")
        return addresses


def _host_port(url: str) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise OutboundRefused(f"invalid URL: {e}") from e
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise OutboundRefused("the URL must be an absolute http:// or https:// URL")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return host, port or _SCHEMES[parts.scheme]


class PinnedTransport(httpx2.AsyncBaseTransport):
    """Checks each request's URL with the guard and connects to the checked address, keeping the
    name in ``Host`` and in TLS SNI (and for certificate checks)."""

    def __init__(self, guard: OutboundGuard) -> None:
        self._guard = guard
        self._pools: dict[str, httpx2.AsyncHTTPTransport] = {}
        """One connection pool per host name: a TLS connection made for one name is never reused
        for another name that resolved to the same address."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        target = await self._guard.target(str(request.url))
        if literal_address(target.host) is None:
            request.extensions = {**request.extensions, "sni_hostname": target.host}
        request.url = request.url.copy_with(host=target.address)
        pool = self._pools.get(target.host)
        if pool is None:
            pool = self._pools[target.host] = httpx2.AsyncHTTPTransport(trust_env=False)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
