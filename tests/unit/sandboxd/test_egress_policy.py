"""Allowlist patterns, matching, the SSRF guard and the proxy's request parsing (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from runtime.sandbox.base import SandboxSpec
from runtime.sandboxd.egress_policy import (
    BoxRule,
    Policy,
    PolicyFile,
    address_problem,
    matches,
    normalize_host,
    validate_pattern,
    write_policy,
)
from runtime.sandboxd.egress_proxy import Denied, _origin_head, parse_head


@pytest.mark.parametrize("good", ["pypi.org", "*.github.com", "a-b.c0.example", "XN--80AK6AA92E.com"])
def test_valid_patterns(good: str) -> None:
    assert validate_pattern(good) == good.lower()


@pytest.mark.parametrize(
    "bad", ["", "*", "org", "*.org.", "*github.com", "a.*.com", "-a.com", "a..com", "10.0.0.1",
            "pypi.org:443", "https://pypi.org", "pypi.org/simple", " pypi.org", "[::1]", "ex ample.com"],
)
def test_invalid_patterns(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid domain pattern"):
        validate_pattern(bad)


def test_matching() -> None:
    assert matches("pypi.org", ("pypi.org",)) and not matches("files.pypi.org", ("pypi.org",))
    assert matches("api.github.com", ("*.github.com",)) and matches("a.b.github.com", ("*.github.com",))
    assert not matches("github.com", ("*.github.com",)) and not matches("evilgithub.com", ("*.github.com",))
    assert normalize_host("PyPI.org.") == "pypi.org" and normalize_host("a_b.com") is None


def test_ssrf_guard() -> None:
    for always in ("127.0.0.1", "169.254.169.254", "::1", "0.0.0.0", "224.0.0.1", "::ffff:127.0.0.1"):
        assert address_problem(always, private_ok=True) is not None, always
    for private in ("10.1.2.3", "172.17.0.2", "192.168.1.1", "100.64.0.1", "fd00::1"):
        assert address_problem(private, private_ok=False) == f"{private} is a private address"
        assert address_problem(private, private_ok=True) is None
    assert address_problem("151.101.0.223", private_ok=False) is None


def test_policy_file_reloads_and_fails_closed(tmp_path: Path) -> None:
    file = PolicyFile(tmp_path / "policy.json")
    assert file.current().boxes == {}
    write_policy(tmp_path, Policy({"172.30.0.3": BoxRule("abc", ("pypi.org",))}, ("intra.example",)))
    assert file.current().boxes["172.30.0.3"] == BoxRule("abc", ("pypi.org",))
    write_policy(tmp_path, Policy({}, ()))
    assert file.current().boxes == {}
    (tmp_path / "policy.json").write_text("{not json")
    assert file.current() == Policy()


def test_parse_requests() -> None:
    connect = parse_head(b"CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n")
    assert (connect.method, connect.host, connect.port, connect.tunnel) == ("CONNECT", "pypi.org", 443, True)
    get = parse_head(b"GET http://a.example/x?y=1 HTTP/1.1\r\nHost: a.example\r\nProxy-Connection: keep-alive"
                     b"\r\nProxy-Authorization: x\r\n\r\n")
    assert (get.host, get.port, get.path) == ("a.example", 80, "/x?y=1")
    assert _origin_head(get) == b"GET /x?y=1 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"
    for bad in (b"GET /x HTTP/1.1\r\n\r\n", b"CONNECT pypi.org HTTP/1.1\r\n\r\n", b"nonsense\r\n\r\n",
                b"GET https://a.example/ HTTP/1.1\r\n\r\n"):
        with pytest.raises(Denied) as e:
            parse_head(bad)
        assert e.value.status == 400


def test_spec_validates_allowed_domains() -> None:
    spec = SandboxSpec(network="allowlist", allowed_domains=("PyPI.org", "*.github.com", "pypi.org"))
    assert spec.allowed_domains == ("*.github.com", "pypi.org")
    with pytest.raises(ValidationError, match="invalid domain pattern"):
        SandboxSpec(network="allowlist", allowed_domains=("10.0.0.1",))
    with pytest.raises(ValidationError, match='allowed_domains needs network="allowlist"'):
        SandboxSpec(network="egress", allowed_domains=("pypi.org",))
