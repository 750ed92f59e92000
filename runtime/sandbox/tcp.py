"""sandboxd over TCP with TLS, for boxes the host reaches over a network (a Kubernetes pod, a
container on a Docker network) instead of a unix socket in a bind-mounted directory.

Both ends are pinned, with no certificate authority in between:
- per box, the host generates a key and a self-signed certificate (:func:`box_tls`) and hands them
  to the box with its token (in the socket directory here; a Secret volume on Kubernetes); sandboxd
  loads the key and deletes the file before it listens. The host's client trusts only that one
  certificate, so no other listener at the box's address (another box, code in the box that took
  the port) can pass for its sandboxd.
- per provider, the host has a client identity (:class:`HostIdentity`) whose certificate every box
  gets as the only client it accepts (mutual TLS): a caller without the host's key is refused at
  the handshake, before a byte of HTTP, and one with it still needs the box's token.
TLS 1.3 only. The transport below is an httpx transport, so :class:`SandboxdClient` is unchanged.
"""

from __future__ import annotations

import datetime
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

SERVER_CERT = "tls-server.crt"
SERVER_KEY = "tls-server.key"
"""In the box's socket directory; sandboxd deletes it once loaded."""
CLIENT_CERT = "tls-client.crt"
"""The host's client certificate: the only client sandboxd accepts."""
DEFAULT_PORT = 7443
_VALID_DAYS = 30


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes


def self_signed(common_name: str, days: int = _VALID_DAYS) -> Pem:
    """A P-256 key and a self-signed certificate for ``common_name``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Pem(cert.public_bytes(serialization.Encoding.PEM), key_pem)


def box_tls(sandbox_id: str) -> Pem:
    return self_signed(f"sandboxd-{sandbox_id}")


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class HostIdentity:
    """The host's client key and certificate, in a directory only the host can read (``ssl``
    loads a key only from a file)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cert_pem = b""

    def create(self) -> None:
        pem = self_signed("hangar-host")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in ("host.crt", "host.key"):
            (self.directory / name).unlink(missing_ok=True)
        _write_private(self.directory / "host.crt", pem.cert)
        _write_private(self.directory / "host.key", pem.key)
        self.cert_pem = pem.cert

    def client_context(self, server_cert: bytes) -> ssl.SSLContext:
        """A TLS 1.3 client context that trusts only ``server_cert`` and presents the host's."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False  # the pin is the certificate itself, not a name
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=server_cert.decode())
        ctx.load_cert_chain(self.directory / "host.crt", self.directory / "host.key")
        return ctx


def write_box_files(socket_dir: Path, pem: Pem, client_cert: bytes, owner_uid: int | None) -> None:
    """The box's key and certificate and the host's certificate, readable by the box's user only."""
    for name, data in ((SERVER_CERT, pem.cert), (SERVER_KEY, pem.key), (CLIENT_CERT, client_cert)):
        path = socket_dir / name
        _write_private(path, data)
        if owner_uid is not None:
            try:
                os.chown(path, owner_uid, owner_uid)
            except PermissionError:
                path.chmod(0o644)  # not root: like the token file, let the box's user in


class TlsTransport(httpx.AsyncBaseTransport):
    """httpx's transport to one box's sandboxd at ``https://{address}:{port}``, pinned (see the
    module doc). The address is set once the box has one (:meth:`point_at`); requests keep the
    client's ``http://sandboxd`` URLs and are sent to that address."""

    def __init__(self, context: ssl.SSLContext, port: int = DEFAULT_PORT) -> None:
        self._inner = httpx.AsyncHTTPTransport(verify=context, http1=True, http2=False, retries=0)
        self._port = port
        self._host: str | None = None

    def point_at(self, host: str) -> None:
        self._host = host

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._host is None:
            raise httpx.ConnectError("the box has no address yet", request=request)
        request.url = request.url.copy_with(scheme="https", host=self._host, port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
