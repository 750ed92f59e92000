"""The request rewriting of the egress proxy's TLS interception, and the host's injection table."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from runtime.sandbox.base import EgressRule, SandboxSpec
from runtime.sandbox.egress_credentials import ResolvedCredential
from runtime.sandbox.egress_inject import plan
from runtime.sandboxd.egress_intercept import (
    _copy_chunked,
    body_framing,
    parse_request,
    rewrite_headers,
    substitute_text,
)
from runtime.sandboxd.egress_policy import Injection
from runtime.sandboxd.egress_wire import Denied

SUBS = [("__GEMINI_CRED_a__", "SECRET", ("header",)), ("__GEMINI_CRED_b__", "VALUE", ("query", "body"))]


def test_headers_injected_replaced_and_substituted() -> None:
    _, _, _, headers = parse_request(
        b"GET /x HTTP/1.1\r\nHost: evil.test\r\nauthorization: mine\r\nX-A: __GEMINI_CRED_a__\r\n"
        b"X-B: __GEMINI_CRED_b__\r\nProxy-Authorization: p\r\nConnection: keep-alive\r\n\r\n"
    )
    injection = Injection("a.test", (("Authorization", "token __GEMINI_CRED_a__"),), (), "c.pem")
    out = dict(rewrite_headers(headers, [injection], SUBS))
    assert out == {b"X-A": b"SECRET", b"X-B": b"__GEMINI_CRED_b__", b"Authorization": b"token SECRET"}


def test_query_only_where_allowed() -> None:
    assert substitute_text("/p?a=__GEMINI_CRED_a__&b=__GEMINI_CRED_b__", SUBS, "query") == (
        "/p?a=__GEMINI_CRED_a__&b=VALUE"
    )


def test_ambiguous_framing_is_refused() -> None:
    with pytest.raises(Denied):
        body_framing([(b"Content-Length", b"3"), (b"Transfer-Encoding", b"chunked")])
    with pytest.raises(Denied):
        body_framing([(b"Content-Length", b"3"), (b"content-length", b"4")])
    assert body_framing([(b"Content-Length", b"3")]) == (3, False)


class _Sink:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        pass


async def test_a_chunked_body_ends_where_it_ends() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET /second HTTP/1.1\r\n\r\n")
    sink = _Sink()
    await _copy_chunked(reader, sink)  # type: ignore[arg-type]
    assert sink.data == b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", "the second request is not forwarded"


class _Source:
    async def resolve(self, scope: str, ids: Sequence[str]) -> dict[str, ResolvedCredential]:
        assert scope == "p1"
        known = {
            "gh": ResolvedCredential("gh", "tok", header=("Authorization", "Bearer tok")),
            "k": ResolvedCredential("k", "v", locations=("query",), trusted_domains=("api.test",)),
        }
        return {i: known[i] for i in ids if i in known}


async def test_a_credential_applies_to_its_domains_only() -> None:
    spec = SandboxSpec(
        network="allowlist", allowed_domains=("a.test", "b.test", "api.test"), credential_scope="p1",
        egress_rules=(EgressRule(domain="a.test", credential="gh"),
                      EgressRule(domain="b.test", credential="gone"),
                      EgressRule(domain="b.test", headers=(("X-A", "1"),))),
        egress_placeholders=("k",),
    )
    table = await plan(spec, _Source())
    assert table.domains == ["a.test", "api.test", "b.test"]
    assert table.headers["a.test"] == [("Authorization", "Bearer tok")]
    assert table.headers["b.test"] == [("X-A", "1")], "an unknown credential injects nothing"
    assert table.substitute["a.test"] == [("__GEMINI_CRED_gh__", "tok", ("header",))]
    assert table.substitute["api.test"] == [("__GEMINI_CRED_k__", "v", ("query",))]
    assert "b.test" not in table.substitute
