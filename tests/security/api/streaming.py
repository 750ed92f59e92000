"""A raw HTTP/1.1 client that streams a huge chunked body and stops as soon as the server answers,
counting what it managed to send; and the server process's peak memory."""

from __future__ import annotations

import select
import socket
from dataclasses import dataclass
from pathlib import Path

CHUNK = 64 * 1024


@dataclass
class Outcome:
    status: int | None
    """``None``: the server closed (or reset) the connection without an answer we could read."""
    sent: int
    response: bytes


def stream_body(
    port: int, path: str, total: int, headers: dict[str, str] | None = None, method: str = "POST"
) -> Outcome:
    """Send ``total`` bytes (chunked, no Content-Length) to ``127.0.0.1:port``; stop when the
    server answers or closes."""
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
    ]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    frame = f"{CHUNK:x}\r\n".encode() + b"[" * CHUNK + b"\r\n"
    sent, response = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            while sent < total:
                readable, writable, _ = select.select([sock], [sock], [], 60)
                if readable:
                    break
                if writable:
                    sock.sendall(frame)
                    sent += CHUNK
            else:
                sock.sendall(b"0\r\n\r\n")
            response = _read_response(sock)
        except (BrokenPipeError, ConnectionResetError):
            pass
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None
    return Outcome(status, sent, response)


def declare_only(port: int, path: str, length: int, headers: dict[str, str]) -> bytes:
    """Send a request head declaring ``length`` body bytes, and none of them; the answer."""
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {length}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        return _read_response(sock)


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    return data


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")
