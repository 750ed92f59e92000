"""Allowlist patterns, matching, the SSRF guard (every IPv4 spelling) and per-box policy files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtime.sandbox.base import SandboxSpec
from runtime.sandboxd.egress_policy import (
    BoxRule,
    PolicyDir,
    address_problem,
    literal_address,
    matches,
    normalize_host,
    validate_pattern,
    write_rule,
)


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
    assert BoxRule("b", open=True).allows("any.example")
    assert not BoxRule("b", ("a.example",)).allows("b.example")


def test_ssrf_guard() -> None:
    for always in ("127.0.0.1", "169.254.169.254", "::1", "0.0.0.0", "224.0.0.1", "::ffff:127.0.0.1",
                   "fe80::1%eth0", "::"):
        assert address_problem(always, private_ok=True) is not None, always
    for private in ("10.1.2.3", "172.17.0.2", "192.168.1.1", "100.64.0.1", "fd00::1"):
        assert address_problem(private, private_ok=False) == f"{private} is a private address"
        assert address_problem(private, private_ok=True) is None
    assert address_problem("151.101.0.223", private_ok=False) is None
    assert address_problem("2a00:1450:4001:80b::200e", private_ok=False) is None


@pytest.mark.parametrize(
    "embedded",
    [
        "::ffff:169.254.169.254",  # IPv4-mapped
        "::169.254.169.254",  # IPv4-compatible
        "::ffff:0:a9fe:a9fe",  # SIIT
        "2002:a9fe:a9fe::1",  # 6to4
        "64:ff9b::a9fe:a9fe",  # NAT64 (well-known prefix)
        "::ffff:7f00:1", "2002:7f00:1::", "64:ff9b::127.0.0.1", "::127.0.0.1",
    ],
)
def test_embedded_loopback_or_link_local_is_refused_even_when_private_is_ok(embedded: str) -> None:
    problem = address_problem(embedded, private_ok=True)
    assert problem is not None and "embeds" in problem, embedded


@pytest.mark.parametrize(
    "embedded", ["::ffff:10.0.0.1", "2002:ac11:2::", "64:ff9b::192.168.0.1", "::10.0.0.1"]
)
def test_embedded_private_ipv4_is_private(embedded: str) -> None:
    assert "private address" in (address_problem(embedded, private_ok=False) or ""), embedded


def test_tunnel_prefixes_are_refused_and_public_embedded_passes() -> None:
    for tunnel in ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "64:ff9b:1::a00:1"):  # Teredo, local NAT64
        assert "Teredo or local NAT64" in (address_problem(tunnel, private_ok=True) or "")
    assert address_problem("2002:9765:df::1", private_ok=False) is None  # 6to4 of 151.101.0.223
    assert address_problem("64:ff9b::151.101.0.223", private_ok=False) is None


@pytest.mark.parametrize(
    ("spelling", "address"),
    [("127.1", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
     ("2130706433", "127.0.0.1"), ("[::1]", "::1"), ("0xa9fea9fe", "169.254.169.254")],
)
def test_every_ip_literal_spelling_is_recognized(spelling: str, address: str) -> None:
    assert literal_address(spelling) == address
    assert literal_address("pypi.org") is None and literal_address("a.1x") is None


def test_policy_dir_reloads_and_fails_closed(tmp_path: Path) -> None:
    policies = PolicyDir(tmp_path)
    assert not policies.scan() and policies.rules == {}
    rule = BoxRule("abc", ("pypi.org",), private_hosts=("intra.example",))
    write_rule(tmp_path, rule)
    write_rule(tmp_path, BoxRule("def", open=True))
    assert policies.scan() and policies.rules == {"abc": rule, "def": BoxRule("def", open=True)}
    assert not policies.scan()
    (tmp_path / "def.json").unlink()
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text(BoxRule("abc").to_json())  # a file naming another box
    assert policies.scan() and policies.rules == {"abc": rule}
    (tmp_path / ".x.tmp").write_text('{"sandbox_id": "abc", "domains": ["10.0.0.1"]}')
    (tmp_path / ".x.tmp").replace(tmp_path / "abc.json")  # the host replaces files, never edits them
    assert policies.scan() and policies.rules == {}
    tmp_path.rename(tmp_path.with_name("gone"))
    assert not PolicyDir(tmp_path).scan()


def test_spec_validates_allowed_domains() -> None:
    spec = SandboxSpec(network="allowlist", allowed_domains=("PyPI.org", "*.github.com", "pypi.org"))
    assert spec.allowed_domains == ("*.github.com", "pypi.org")
    with pytest.raises(ValidationError, match="invalid domain pattern"):
        SandboxSpec(network="allowlist", allowed_domains=("10.0.0.1",))
    with pytest.raises(ValidationError, match='allowed_domains needs network="allowlist"'):
        SandboxSpec(network="egress", allowed_domains=("pypi.org",))


def test_a_replaced_rule_is_seen_though_the_directorys_mtime_did_not_change(tmp_path: Path) -> None:
    """Coarse timestamps: the write and rename of an adopted box's rule land in the tick of the
    last scan, so the directory's (inode, mtime) is unchanged; the box's own file still tells."""
    policies = PolicyDir(tmp_path)
    write_rule(tmp_path, BoxRule("abc"))  # a pooled box: no domain at all
    assert policies.scan() and policies.rules == {"abc": BoxRule("abc")}
    before = tmp_path.stat()
    adopted = BoxRule("abc", ("pypi.org",))
    write_rule(tmp_path, adopted)
    os.utime(tmp_path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same tick
    assert not policies.scan() and policies.rules["abc"] == BoxRule("abc")  # the scan missed it
    assert policies.refresh("abc") == adopted
    assert policies.refresh("abc") == adopted  # unchanged: the loaded rule
    (tmp_path / "abc.json").unlink()
    assert policies.refresh("abc") is None and "abc" not in policies.rules
    (tmp_path / "abc.json").write_text("{not json")
    assert policies.refresh("abc") is None  # unreadable: no rule (fails closed)
