"""Encryption at rest of credentials: Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``).

The key is ``HANGAR_CREDENTIALS_KEY`` when set, else a key generated once into
``<data_dir>/credentials.key`` (created with mode 0600, never rewritten). A ciphertext that the key
cannot open (another key, tampering) is an infrastructure error naming no secret.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from runtime.errors import InfraError, InputError

KEY_FILE = "credentials.key"


class CredentialCipher:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as e:
            raise InputError(
                "HANGAR_CREDENTIALS_KEY is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from e

    @classmethod
    def from_settings(cls, key: str | None, data_dir: Path) -> CredentialCipher:
        return cls(key.encode() if key else load_or_create_key(data_dir / KEY_FILE))

    def seal(self, secret: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(secret, sort_keys=True).encode()).decode("ascii")

    def open(self, token: str) -> dict[str, Any]:
        try:
            value: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, ValueError) as e:
            raise InfraError(
                "a stored credential cannot be decrypted with this server's key (was "
                "HANGAR_CREDENTIALS_KEY or credentials.key changed?)", code="credential_key", retryable=False,
            ) from e
        return value


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``; a new one written there (mode 0600, exclusively) when there is none."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key
