"""Credentials (spec §11): secrets the egress proxy injects into a box's requests, never into the box.

Secrets are write-only: no response, log line or error message carries one; they are stored
encrypted (:mod:`runtime.service.credential_crypto`) and rotated by ``PATCH``. An ``oauth2``
credential is checked live at create (and when its grant fields change): the refresh-token grant
must yield an access token, which is kept (encrypted) and refreshed before it expires. Ids are
unique within a project; another project's id is a 404.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from runtime.errors import AlreadyExists, InputError, NotFound
from runtime.outbound import OutboundGuard
from runtime.sandbox.egress_credentials import ResolvedCredential
from runtime.sandboxd.egress_policy import validate_pattern
from runtime.service import oauth2
from runtime.service.credential_crypto import CredentialCipher
from runtime.service.paging import next_token, page_bounds
from runtime.store import Store
from runtime.store.credentials import CredentialRecord
from runtime.wire import describe
from runtime.worker.timefmt import iso

CredentialId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")]
HeaderName = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")]
_VISIBLE = r"^[\x20-\x7e]*$"
Secret = Annotated[str, Field(min_length=1, max_length=16384, pattern=_VISIBLE)]
Location = Literal["header", "query", "body"]
REFRESH_MARGIN_S = 300.0
"""An access token this close to its expiry is refreshed before it is handed to the proxy."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BearerCreate(_Body):
    type: Literal["bearer_token"]
    id: CredentialId
    token: Secret
    header_name: HeaderName | None = None
    prefix: Annotated[str, Field(max_length=64, pattern=_VISIBLE)] | None = None


class OAuth2Create(_Body):
    type: Literal["oauth2"]
    id: CredentialId
    client_id: Annotated[str, Field(min_length=1, max_length=1024)]
    client_secret: Secret
    refresh_token: Secret
    token_url: Annotated[str, Field(min_length=1, max_length=2048)]
    scopes: list[Annotated[str, Field(max_length=512)]] | None = Field(default=None, max_length=64)


def _locations(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _domains(value: list[str] | None) -> list[str] | None:
    return None if value is None else [validate_pattern(d) for d in value]


class EnvVarCreate(_Body):
    type: Literal["environment_variable"]
    id: CredentialId
    value: Secret
    injection_location: list[Location] = Field(min_length=1, max_length=3)
    trusted_domains: list[str] | None = Field(default=None, max_length=64)

    _one_or_many = field_validator("injection_location", mode="before")(_locations)
    _valid_domains = field_validator("trusted_domains")(_domains)


class BearerUpdate(_Body):
    type: Literal["bearer_token"]
    token: Secret | None = None
    header_name: HeaderName | None = None
    prefix: Annotated[str, Field(max_length=64, pattern=_VISIBLE)] | None = None


class OAuth2Update(_Body):
    type: Literal["oauth2"]
    client_id: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    token_url: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    scopes: list[Annotated[str, Field(max_length=512)]] | None = Field(default=None, max_length=64)


class EnvVarUpdate(_Body):
    type: Literal["environment_variable"]
    value: Secret | None = None
    injection_location: list[Location] | None = Field(default=None, min_length=1, max_length=3)
    trusted_domains: list[str] | None = Field(default=None, max_length=64)

    _one_or_many = field_validator("injection_location", mode="before")(_locations)
    _valid_domains = field_validator("trusted_domains")(_domains)


CreateBody = Annotated[BearerCreate | OAuth2Create | EnvVarCreate, Field(discriminator="type")]
UpdateBody = Annotated[BearerUpdate | OAuth2Update | EnvVarUpdate, Field(discriminator="type")]
CREATE_BODY: TypeAdapter[BearerCreate | OAuth2Create | EnvVarCreate] = TypeAdapter(CreateBody)
UPDATE_BODY: TypeAdapter[BearerUpdate | OAuth2Update | EnvVarUpdate] = TypeAdapter(UpdateBody)
SECRET_FIELDS = {"token", "client_secret", "refresh_token", "value"}
GRANT_FIELDS = {"client_id", "client_secret", "refresh_token", "token_url", "scopes"}


class Credential(BaseModel):
    """The resource: never a secret."""

    id: str
    type: str
    status: Literal["active", "revoked"]
    create_time: str
    update_time: str


class CredentialList(BaseModel):
    credentials: list[Credential]
    next_page_token: str | None = None


def _view(record: CredentialRecord) -> Credential:
    return Credential(
        id=record.id, type=record.type, status=record.status,
        create_time=iso(record.created), update_time=iso(record.updated),
    )


class CredentialService:
    def __init__(self, store: Store, cipher: CredentialCipher, guard: OutboundGuard) -> None:
        self._store = store
        self._cipher = cipher
        self._guard = guard
        self._refreshing: dict[tuple[str, str], asyncio.Lock] = {}

    # --- the resource -----------------------------------------------------------------------------

    async def create(self, project_id: str, body: dict[str, Any]) -> Credential:
        """Raises :class:`InputError` (a bad body; an OAuth2 grant that does not yield a token),
        :class:`~runtime.errors.AlreadyExists` (the id is taken in the project)."""
        try:
            request = CREATE_BODY.validate_python(body)
        except ValidationError as e:
            raise InputError(f"invalid credential: {describe(e)}") from e
        if await self._store.credentials.get(project_id, request.id) is not None:
            raise _exists(request.id)
        fields = request.model_dump(exclude={"type", "id"}, exclude_none=True)
        config = {k: v for k, v in fields.items() if k not in SECRET_FIELDS}
        secret = {k: v for k, v in fields.items() if k in SECRET_FIELDS}
        if isinstance(request, OAuth2Create):
            secret |= await self._grant(config, secret)
        now = time.time()
        record = CredentialRecord(
            project_id=project_id, id=request.id, type=request.type, status="active", config=config,
            secret=self._cipher.seal(secret), created=now, updated=now,
        )
        await self._store.credentials.insert(record)
        return _view(record)

    async def get(self, project_id: str, credential_id: str) -> Credential:
        return _view(await self._record(project_id, credential_id))

    async def list(self, project_id: str, page_size: int | None, page_token: str | None) -> CredentialList:
        offset, size = page_bounds(page_size, page_token)
        records = await self._store.credentials.page(project_id, offset, size + 1)
        return CredentialList(
            credentials=[_view(r) for r in records[:size]],
            next_page_token=next_token(offset, size, len(records) > size) or None,
        )

    async def update(
        self, project_id: str, credential_id: str, body: dict[str, Any], update_mask: str | None
    ) -> Credential:
        """Rotate secrets or change fields (only those in ``update_mask`` when it is given).
        Raises :class:`NotFound`, :class:`InputError` (a bad body, another ``type``, a field the
        mask names that the type lacks)."""
        record = await self._record(project_id, credential_id)
        try:
            request = UPDATE_BODY.validate_python(body)
        except ValidationError as e:
            raise InputError(f"invalid credential update: {describe(e)}") from e
        if request.type != record.type:
            raise InputError(f"type: the credential is a {record.type} credential, not {request.type}")
        changes = _masked(request, update_mask)
        config = {**record.config, **{k: v for k, v in changes.items() if k not in SECRET_FIELDS}}
        secret = self._cipher.open(record.secret)
        secret |= {k: v for k, v in changes.items() if k in SECRET_FIELDS}
        if record.type == "oauth2" and GRANT_FIELDS & changes.keys():
            secret |= await self._grant(config, secret)
        await self._store.credentials.update(
            project_id, credential_id, {"config": config, "secret": self._cipher.seal(secret)}
        )
        return _view(await self._record(project_id, credential_id))

    async def delete(self, project_id: str, credential_id: str) -> None:
        if not await self._store.credentials.delete(project_id, credential_id):
            raise _missing(credential_id)

    async def missing(self, project_id: str, ids: Sequence[str]) -> builtins.list[str]:
        """The ids among ``ids`` that name no credential of the project."""
        return [i for i in dict.fromkeys(ids) if await self._store.credentials.get(project_id, i) is None]

    # --- for the egress proxy ---------------------------------------------------------------------

    async def resolve(self, scope: str, ids: Sequence[str]) -> dict[str, ResolvedCredential]:
        """The secrets of the project ``scope``'s active credentials among ``ids`` (OAuth2 access
        tokens refreshed when close to expiry; one that cannot be refreshed is left out)."""
        resolved: dict[str, ResolvedCredential] = {}
        for credential_id in dict.fromkeys(ids):
            record = await self._store.credentials.get(scope, credential_id)
            if record is None or record.status != "active":
                continue
            try:
                resolved[credential_id] = await self._resolve(record)
            except InputError:
                continue  # an OAuth2 grant that stopped working: nothing to inject (fails closed)
        return resolved

    async def _resolve(self, record: CredentialRecord) -> ResolvedCredential:
        config, secret = record.config, self._cipher.open(record.secret)
        if record.type == "bearer_token":
            prefix = config.get("prefix", "Bearer")
            value = f"{prefix} {secret['token']}" if prefix else secret["token"]
            header = (config.get("header_name") or "Authorization", value)
            return ResolvedCredential(record.id, secret["token"], header=header)
        if record.type == "oauth2":
            secret = await self._fresh(record, config, secret)
            token = secret["access_token"]
            return ResolvedCredential(record.id, token, header=("Authorization", f"Bearer {token}"),
                                      expires_at=secret["expires_at"])
        return ResolvedCredential(
            record.id, secret["value"], locations=tuple(config.get("injection_location", ["header"])),
            trusted_domains=tuple(config.get("trusted_domains") or ()),
        )

    async def _fresh(
        self, record: CredentialRecord, config: dict[str, Any], secret: dict[str, Any]
    ) -> dict[str, Any]:
        if secret.get("expires_at", 0) - time.time() > REFRESH_MARGIN_S:
            return secret
        lock = self._refreshing.setdefault((record.project_id, record.id), asyncio.Lock())
        async with lock:
            current = await self._store.credentials.get(record.project_id, record.id)
            if current is not None:
                secret = self._cipher.open(current.secret)
                if secret.get("expires_at", 0) - time.time() > REFRESH_MARGIN_S:
                    return secret  # refreshed meanwhile
            secret |= await self._grant(config, secret)
            await self._store.credentials.update(
                record.project_id, record.id, {"secret": self._cipher.seal(secret)}
            )
        return secret

    async def _grant(self, config: dict[str, Any], secret: dict[str, Any]) -> dict[str, Any]:
        token = await oauth2.refresh(
            self._guard, token_url=config["token_url"], client_id=config["client_id"],
            client_secret=secret["client_secret"], refresh_token=secret["refresh_token"],
            scopes=config.get("scopes"),
        )
        fresh: dict[str, Any] = {"access_token": token.token, "expires_at": token.expires_at}
        if token.refresh_token:
            fresh["refresh_token"] = token.refresh_token
        return fresh

    async def _record(self, project_id: str, credential_id: str) -> CredentialRecord:
        record = await self._store.credentials.get(project_id, credential_id.removeprefix("credentials/"))
        if record is None:
            raise _missing(credential_id)
        return record


def _masked(request: BaseModel, update_mask: str | None) -> dict[str, Any]:
    """The fields an update sets: those given, or the ones ``update_mask`` names."""
    given = request.model_dump(exclude={"type"}, exclude_unset=True)
    if update_mask is None:
        return {k: v for k, v in given.items() if v is not None}
    names = [n.strip() for n in update_mask.split(",") if n.strip()]
    known = set(type(request).model_fields) - {"type"}
    for name in names:
        if name not in known:
            raise InputError(f"update_mask: {name!r} is not a field of this credential type")
    return {n: given[n] for n in names if given.get(n) is not None}


def _missing(credential_id: str) -> NotFound:
    return NotFound(f"credential '{credential_id}' not found")


def _exists(credential_id: str) -> AlreadyExists:
    return AlreadyExists(f"credential '{credential_id}' already exists", code="already_exists")
