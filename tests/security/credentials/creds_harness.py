"""The credential tests' HTTPS upstream (certificates, server script) and shared constants."""

from __future__ import annotations

import datetime
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from runtime.sandbox.base import Sandbox

TOKEN = f"ghp-{secrets.token_hex(16)}"
API_VALUE = f"apikey-{secrets.token_hex(16)}"
UPSTREAM_HOSTS = ("secure.test", "plain.test", "other.test")
UPSTREAM_CA_NAME = "Hangar test upstream CA"
PORT = 8443
_SERVER = r"""
import http.server, json, ssl
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _do(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode(errors="replace") if n else ""
        print(json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                          "body": body}), flush=True)
        data = b"seen\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = _do
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("0.0.0.0", 8443), H)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("/certs/server.pem")
server.socket = context.wrap_socket(server.socket, server_side=True)
print("Serving TLS", flush=True)
server.serve_forever()
"""


def make_certs(folder: Path) -> Path:
    """A test CA (``ca.pem``) and a server certificate for :data:`UPSTREAM_HOSTS` (``server.pem``)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, UPSTREAM_CA_NAME)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, UPSTREAM_HOSTS[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in UPSTREAM_HOSTS]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(mode=0o755, exist_ok=True)
    folder.chmod(0o755)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pem = leaf.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (folder / "server.pem").write_bytes(pem)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder / "ca.pem"


@dataclass
class Upstream:
    container_id: str
    network: str
    keeper: Sandbox
    docker: Any

    def requests(self) -> list[dict[str, Any]]:
        """What the upstream received, one entry per request."""
        lines = self.docker.api.logs(self.container_id).decode().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


