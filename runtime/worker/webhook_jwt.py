"""RS256 signatures of per-request (``webhook_config``) webhook deliveries.

A delivery to a dynamic target carries the Standard Webhooks headers ``webhook-id`` and
``webhook-timestamp``, and ``webhook-signature`` holds a JWT (RS256) instead of HMAC entries, as on
Google's service. Its header names the key (``kid``); its claims:

- ``iss``: Hangar's public URL; ``aud``: the target URI the delivery is POSTed to;
- ``iat`` / ``exp``: the ``webhook-timestamp`` and five minutes later (each attempt is signed anew);
- ``jti`` and ``webhook_id``: the delivery id (the same on every retry: the idempotency key);
- ``body_sha256``: base64url (unpadded) SHA-256 of the exact request body, which binds the body.

The public keys are served as a JWKS at ``/.well-known/jwks.json``. The key pair is generated once
into the data directory (PEM, mode 0600) and shared by every process using that directory.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from runtime.errors import InfraError

TOKEN_SECONDS = 300
JWKS_PATH = "/.well-known/jwks.json"


def body_digest(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


class DeliverySigner:
    """Signs deliveries with one RSA key pair. Build it with :meth:`from_file`."""

    def __init__(self, private_key: rsa.RSAPrivateKey, issuer: str) -> None:
        self._key = private_key
        self._issuer = issuer
        der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = body_digest(der)[:22]

    @classmethod
    def from_file(cls, path: Path, issuer: str) -> DeliverySigner:
        """The key in ``path``, generated there first (mode 0600) when missing. Raises
        :class:`InfraError` when the file cannot be read or written, or holds no RSA key."""
        try:
            return cls(_load_or_create(path), issuer)
        except (OSError, ValueError, TypeError) as e:
            raise InfraError(
                f"webhook signing key {path}: {e}", code="webhook_key_unusable", retryable=False
            ) from e

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        return {"keys": [jwk]}

    def sign(self, delivery_id: str, timestamp: int, body: bytes, audience: str) -> str:
        claims = {
            "iss": self._issuer,
            "aud": audience,
            "iat": timestamp,
            "exp": timestamp + TOKEN_SECONDS,
            "jti": delivery_id,
            "webhook_id": delivery_id,
            "body_sha256": body_digest(body),
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})


def _load_or_create(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # written aside, then linked into place: a process starting at the same time sees either
        # no file or a whole one, and the first link wins for both
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        try:
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        finally:
            temp.unlink()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return loaded
