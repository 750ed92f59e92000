"""``base_environment.network`` becomes the sandbox's network mode."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from runtime.agents.spec import AgentSpec


def _spec(network: Any, **extra: Any) -> AgentSpec:
    return AgentSpec.model_validate({"id": "a", "base_environment": {"network": network}, **extra})


def test_allowlist_maps_to_allowlist_mode() -> None:
    spec = _spec({"allowlist": [{"domain": "pypi.org"}, {"domain": "*.GitHub.com"}]})
    sandbox = spec.sandbox_spec()
    assert (sandbox.network, sandbox.allowed_domains) == ("allowlist", ("*.github.com", "pypi.org"))
    assert spec.wants_egress()


@pytest.mark.parametrize(
    ("network", "extra", "mode"),
    [
        ({"allowlist": [{"domain": "*"}]}, {}, "egress"),  # every domain: open egress
        ("disabled", {}, "none"),
        ({"allowlist": "disabled"}, {}, "none"),
        ({"allowlist": [{"domain": "pypi.org"}]}, {"sandbox": {"network": "egress"}}, "egress"),
        ({"allowlist": [{"domain": "pypi.org"}]}, {"sandbox": {"network": "none"}}, "none"),
    ],
)
def test_other_network_settings(network: Any, extra: dict[str, Any], mode: str) -> None:
    sandbox = _spec(network, **extra).sandbox_spec()
    assert (sandbox.network, sandbox.allowed_domains) == (mode, ())


def test_bad_domain_is_refused_when_the_agent_loads() -> None:
    with pytest.raises(ValidationError, match="invalid domain pattern"):
        _spec({"allowlist": [{"domain": "169.254.169.254"}]})
