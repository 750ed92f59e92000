"""What a pooled box is made from: the spec less what adoption assigns (its egress rule)."""

from __future__ import annotations

from runtime.sandbox.base import EgressRule, SandboxSpec
from runtime.sandbox.pooled import pool_shape, poolable


def test_boxes_with_egress_share_one_shape_with_an_empty_allowlist() -> None:
    base = SandboxSpec(memory_mb=512, env=(("A", "1"),))
    listed = base.model_copy(update={"network": "allowlist", "allowed_domains": ("pypi.org",)})
    other = base.model_copy(update={"network": "allowlist", "allowed_domains": ("github.com",)})
    open_egress = base.model_copy(update={"network": "egress"})
    shape = pool_shape(listed)
    assert shape == pool_shape(other) == pool_shape(open_egress)
    assert shape.network == "allowlist" and shape.allowed_domains == ()
    assert shape.model_copy(update={"network": "none"}) == base  # nothing else changes
    assert pool_shape(base) == base  # no egress: the spec itself


def test_what_a_box_cannot_get_after_creation_differs_in_shape() -> None:
    base = SandboxSpec(network="allowlist", allowed_domains=("pypi.org",))
    for change in ({"env": (("TOKEN", "b"),)}, {"memory_mb": 2048}, {"image": "other:1"}):
        assert pool_shape(base.model_copy(update=change)) != pool_shape(base)


def test_specs_that_inject_credentials_are_not_poolable() -> None:
    rule = EgressRule(domain="api.example.com", credential="cred_1")
    spec = SandboxSpec(network="allowlist", allowed_domains=("api.example.com",), egress_rules=(rule,))
    assert not poolable(spec)
    assert not poolable(SandboxSpec(egress_placeholders=("cred_1",)))
    assert poolable(SandboxSpec(network="egress"))
    assert not poolable(SandboxSpec(workspace_volume="hangar-ws-x"))  # (new environments: claimed)
