"""Pieces the network attack tests share: an upstream test server that reports what it received,
a TCP listener on the host, and a shell helper for boxes.

The upstream server runs in a container on a Docker network the test creates (as the outside world
would be, behind the proxy's bridge): for an HTTP request it answers ``host=<Host header>`` and logs
``REQ <request line> host=<Host>``; for anything else it logs ``RAW <first bytes>`` and closes.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from runtime.sandbox.base import Sandbox

ECHO_SCRIPT = r'''
import socketserver, sys
class H(socketserver.StreamRequestHandler):
    def handle(self):
        data = self.request.recv(65536)
        if not data[:1].isalpha():
            print("RAW", data[:8].hex(), flush=True); return
        while b"\r\n\r\n" not in data:
            more = self.request.recv(65536)
            if not more: break
            data += more
        lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        host = next((l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("host:")), "")
        print("REQ", lines[0], "host=" + host, flush=True)
        body = ("host=" + host + "\n").encode()
        self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
print("listening", flush=True)
S(("0.0.0.0", 8000), H).serve_forever()
'''


@dataclass(frozen=True)
class EchoServer:
    network: str
    container_id: str
    name: str
    ip: str
    gateway: str

    def log(self, docker_client: Any) -> str:
        return str(docker_client.api.logs(self.container_id).decode())


def start_echo_server(docker_client: Any, image: str, aliases: list[str]) -> EchoServer:
    api = docker_client.api
    network = f"hangar-test-net-{secrets.token_hex(4)}"
    api.create_network(network, driver="bridge", check_duplicate=True)
    name = f"hangar-test-echo-{secrets.token_hex(4)}"
    endpoint = api.create_endpoint_config(aliases=aliases)
    container_id = api.create_container(
        image, name=name, entrypoint=["python3", "-c", ECHO_SCRIPT],
        host_config=api.create_host_config(network_mode=network, read_only=True, cap_drop=["ALL"]),
        networking_config=api.create_networking_config({network: endpoint}),
    )["Id"]
    api.start(container_id)
    deadline = time.monotonic() + 15
    while b"listening" not in api.logs(container_id):
        assert time.monotonic() < deadline, api.logs(container_id)
        time.sleep(0.02)
    attrs = api.inspect_container(container_id)["NetworkSettings"]["Networks"][network]
    return EchoServer(network, container_id, name, attrs["IPAddress"], attrs["Gateway"])


def stop_echo_server(docker_client: Any, server: EchoServer) -> None:
    docker_client.api.remove_container(server.container_id, force=True)
    docker_client.api.remove_network(server.network)


@dataclass
class HostListener:
    """A TCP server on the host bound to 0.0.0.0 that counts the connections it accepted."""

    sock: socket.socket = field(default_factory=lambda: socket.create_server(("0.0.0.0", 0)))
    accepted: list[tuple[str, int]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> None:
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.accepted.append(peer)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhost!\n")
            conn.close()

    def close(self) -> None:
        self.sock.close()


def network_gateway(docker_client: Any, name: str) -> str:
    config = docker_client.api.inspect_network(name)["IPAM"]["Config"] or [{}]
    return str(config[0].get("Gateway", ""))


async def sh(box: Sandbox, command: str) -> tuple[int, str]:
    result = await box.client.exec(["bash", "-c", command], timeout_s=30)
    return result.exit_code, result.stdout + result.stderr


def attach_proxy(docker_client: Any, proxy_name: str, network: str) -> None:
    """Join the proxy to a test network (once), as the outside world would be behind its bridge."""
    attached = docker_client.api.inspect_container(proxy_name)["NetworkSettings"]["Networks"]
    if network not in attached:
        docker_client.api.connect_container_to_network(proxy_name, network)
