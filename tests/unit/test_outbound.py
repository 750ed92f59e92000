"""The outbound guard: every internal spelling refused, names resolved and pinned, no redirects.
The pinning tests talk to real HTTP servers on loopback (reached through allowed names)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runtime.outbound import OutboundGuard, OutboundRefused, literal_address, refusal

INTERNAL = [
    "http://127.0.0.1/",
    "http://127.8.9.10:8080/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "http://127.0.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b:1::1]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://198.18.0.1/",
    "http://[fec0::1]/",
]


async def _resolves_to(address: str) -> OutboundGuard:
    async def resolver(_host: str, _port: int) -> list[str]:
        return [address]

    return OutboundGuard(resolver=resolver)


async def _hosts_file(host: str, _port: int) -> list[str]:
    """Names as /etc/hosts knows them; nothing here asks a DNS server."""
    if host.lower().rstrip(".") == "localhost":
        return ["::1", "127.0.0.1"]
    raise OSError(f"{host}: unknown")


@pytest.mark.parametrize("url", INTERNAL)
async def test_every_internal_spelling_is_refused(url: str) -> None:
    with pytest.raises(OutboundRefused) as caught:
        await OutboundGuard(resolver=_hosts_file).check(url)
    assert caught.value.code == "outbound_url_refused" and caught.value.http_status == 400


async def test_the_system_resolver_is_asked_for_names() -> None:
    with pytest.raises(OutboundRefused, match=r"'localhost' .*: a loopback"):
        await OutboundGuard().check("http://localhost:9/")


async def test_the_refusal_names_the_host_and_the_reason() -> None:
    decimal = r"refused to contact host '2130706433' \(resolves to 127.0.0.1\): a loopback"
    with pytest.raises(OutboundRefused, match=decimal):
        await OutboundGuard().check("http://2130706433:9/x")
    mapped = r"`uri`: refused to contact host '\[::ffff:10.0.0.1\]'.*10.0.0.1"
    with pytest.raises(OutboundRefused, match=mapped):
        await OutboundGuard().check_field("uri", "http://[::ffff:10.0.0.1]/")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "http://",
        "not a url",
        "http://[::1/",
    ],
)
async def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(OutboundRefused):
        await OutboundGuard().check(url)


async def test_a_name_is_refused_when_any_of_its_addresses_is_internal() -> None:
    async def resolver(_host: str, _port: int) -> list[str]:
        return ["93.184.216.34", "10.1.2.3"]

    with pytest.raises(OutboundRefused, match=r"resolves to 10\.1\.2\.3"):
        await OutboundGuard(resolver=resolver).check("https://hooks.example/x")
    with pytest.raises(OutboundRefused, match="does not resolve"):
        await OutboundGuard(resolver=_hosts_file).check("http://no-such-host.invalid/")


async def test_public_addresses_pass() -> None:
    await OutboundGuard().check("https://93.184.216.34/hook")
    await OutboundGuard().check("https://[2606:4700::6810:84e5]:8443/hook")
    await (await _resolves_to("93.184.216.34")).check("https://hooks.example/x")


async def test_allowed_hosts_are_matched_as_written() -> None:
    guard = OutboundGuard(("127.0.0.1", "[::1]:8080", "hooks.internal"))
    await guard.check("http://127.0.0.1:1234/")
    await guard.check("http://[::1]:8080/")
    for url in [
        "http://127.1:1234/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]:8081/",
        "http://localhost/",
    ]:
        with pytest.raises(OutboundRefused):
            await guard.check(url)


def test_literal_spellings_decode() -> None:
    assert str(literal_address("0x7f.1")) == "127.0.0.1"
    assert str(literal_address("017700000001")) == "127.0.0.1"
    assert literal_address("hooks.example") is None
    assert literal_address("1.2.3.4.5") is None
    assert refusal(literal_address("8.8.8.8")) is None  # type: ignore[arg-type]


class _Server:
    """A loopback HTTP server recording requests; answers 200, or 302 to ``redirect``."""

    def __init__(self, redirect: str | None = None) -> None:
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append({"path": self.path, "host": self.headers.get("host", "")})
                self.send_response(302 if redirect else 200)
                if redirect:
                    self.send_header("location", redirect)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[_Server, _Server]]:
    internal = _Server()
    allowed = _Server(redirect=f"http://127.0.0.1:{internal.port}/secret")
    yield allowed, internal
    allowed.close()
    internal.close()


async def test_the_client_pins_the_checked_address_and_keeps_the_name(
    servers: tuple[_Server, _Server],
) -> None:
    _, internal = servers
    looked_up: list[str] = []

    async def resolver(host: str, _port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    guard = OutboundGuard(("hooks.test",), resolver=resolver)
    async with guard.client(timeout=5) as client:
        response = await client.get(f"http://hooks.test:{internal.port}/a?b=1")
    assert response.status_code == 200
    assert internal.requests == [{"path": "/a?b=1", "host": f"hooks.test:{internal.port}"}]
    assert looked_up == ["hooks.test"]  # one lookup, by the guard; the connection used its answer


async def test_a_name_that_now_resolves_internal_is_not_contacted(servers: tuple[_Server, _Server]) -> None:
    _, internal = servers
    guard = await _resolves_to("127.0.0.1")  # "rebind.test" passed once, now answers loopback
    async with guard.client(timeout=5) as client:
        with pytest.raises(OutboundRefused, match=r"rebind\.test"):
            await client.get(f"http://rebind.test:{internal.port}/")
    assert internal.requests == []


async def test_redirects_are_not_followed(servers: tuple[_Server, _Server]) -> None:
    allowed, internal = servers
    guard = OutboundGuard((f"127.0.0.1:{allowed.port}",))
    async with guard.client(timeout=5) as client:
        response = await client.get(f"http://127.0.0.1:{allowed.port}/hook")
    assert response.status_code == 302
    assert len(allowed.requests) == 1 and internal.requests == []
