"""The delivery signer: one key pair kept in the data directory, tokens PyJWT verifies with the JWKS."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest

from runtime.errors import InfraError
from runtime.worker.webhook_jwt import DeliverySigner, body_digest


def test_key_is_made_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "webhook_jwt_key.pem"
    first = DeliverySigner.from_file(path, issuer="https://hangar.test")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = DeliverySigner.from_file(path, issuer="https://hangar.test")
    assert again.kid == first.kid
    assert first.jwks() == again.jwks()
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary file left


def test_token_verifies_against_the_jwks_and_binds_body_and_audience(tmp_path: Path) -> None:
    signer = DeliverySigner.from_file(tmp_path / "k.pem", issuer="https://hangar.test")
    body = b'{"type":"interaction.completed"}'
    token = signer.sign("msg_1", 1_700_000_000, body, "https://receiver.test/hook")
    (jwk,) = signer.jwks()["keys"]
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": signer.kid, "typ": "JWT"}
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        token, key, algorithms=["RS256"], audience="https://receiver.test/hook",
        issuer="https://hangar.test", options={"verify_exp": False},
    )
    assert claims["body_sha256"] == body_digest(body)
    assert claims["jti"] == claims["webhook_id"] == "msg_1"
    assert claims["exp"] - claims["iat"] == 300
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(
            token, key, algorithms=["RS256"], audience="https://other.test", options={"verify_exp": False}
        )


def test_unusable_key_file_is_an_infra_error(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text("not a key")
    with pytest.raises(InfraError, match="webhook signing key"):
        DeliverySigner.from_file(path, issuer="x")
