"""The OAuth2 refresh-token grant (RFC 6749 §6), against a tenant-chosen token URL: every request
goes through the outbound guard (resolved, checked, pinned). Error messages carry the endpoint's
``error`` code at most, never what was sent."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx2

from runtime.errors import InputError
from runtime.outbound import OutboundGuard

TIMEOUT_S = 15.0
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: float
    refresh_token: str | None = None
    """A new refresh token, when the endpoint rotated it."""


async def refresh(
    guard: OutboundGuard, *, token_url: str, client_id: str, client_secret: str, refresh_token: str,
    scopes: list[str] | None,
) -> AccessToken:
    """A fresh access token. Raises :class:`InputError` (a refused URL, an endpoint that refuses the
    grant or answers something else than a token)."""
    await guard.check_field("token_url", token_url)
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id,
            "client_secret": client_secret}
    if scopes:
        form["scope"] = " ".join(scopes)
    try:
        async with guard.client(timeout=TIMEOUT_S, headers={"Accept": "application/json"}) as client:
            response = await client.post(token_url, data=form)
    except httpx2.HTTPError as e:
        raise InputError(f"token_url: the token endpoint could not be reached ({type(e).__name__})") from e
    return _parse(response)


def _parse(response: httpx2.Response) -> AccessToken:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InputError(
            f"token_url: the token endpoint answered HTTP {response.status_code} without a JSON token"
        )
    if response.status_code != 200 or not isinstance(data.get("access_token"), str):
        code = data.get("error")
        shown = f" ({code})" if isinstance(code, str) and _ERROR_CODE.match(code) else ""
        raise InputError(
            f"token_url: the token endpoint refused the refresh token: HTTP {response.status_code}{shown}"
        )
    expires_in = data.get("expires_in")
    lifetime = float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else 3600.0
    rotated = data.get("refresh_token")
    return AccessToken(
        token=data["access_token"], expires_at=time.time() + lifetime,
        refresh_token=rotated if isinstance(rotated, str) and rotated else None,
    )
