"""An impostor sandboxd, run by the tests inside a real box as the agent would: it deletes the
box's socket, binds its own in its place and answers every request in one hostile way.

``python3 impostor.py MODE [SOCKET]``; modes: ``gzip-bomb`` (a small gzip body that expands to
1 GiB, sent with ``Content-Encoding: gzip``; read from ``bomb.gz`` next to this script),
``huge-body`` (200, endless chunked body), ``huge-declared`` (200 with a 1 TB Content-Length),
``huge-error`` (500, endless chunked body), ``endless-lines`` (an exec stream of output lines that
never ends), ``endless-line`` (one line that never ends), ``garbage`` (bytes that are not HTTP),
``wrong-json`` (200 with valid JSON of the wrong shape). Writes ``/tmp/impostor.ready`` when
listening and counts the requests it saw in ``/tmp/impostor.requests``. Standard library only.
"""

from __future__ import annotations

import os
import socket
import sys
import threading

MODE = sys.argv[1]
PATH = sys.argv[2] if len(sys.argv) > 2 else "/run/sandboxd/sandboxd.sock"
CHUNK = b"x" * 65536
LINE = b'{"type":"stdout","data":"' + b"y" * 1000 + b'"}\n'
lock = threading.Lock()
seen = 0


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _read_head(conn: socket.socket) -> bool:
    """Whether a request head arrived (``False``: the client closed without sending one)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return False
        data += more
    return True


def _answer(conn: socket.socket) -> None:
    if MODE == "garbage":
        conn.sendall(b"\x00\xffNOT HTTP AT ALL\r\n" * 1000)
        return
    if MODE == "gzip-bomb":
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bomb.gz"), "rb") as f:
            bomb = f.read()
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
                     b"content-length: %d\r\n\r\n" % len(bomb) + bomb)
        return
    if MODE == "huge-declared":
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000000\r\n\r\n")
        while True:
            conn.sendall(CHUNK)
    if MODE == "wrong-json":
        body = b'{"surprise": [1, 2, 3]}'
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                     % len(body) + body)
        return
    status = b"500 Internal Server Error" if MODE == "huge-error" else b"200 OK"
    head = b"\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    conn.sendall(b"HTTP/1.1 " + status + head)
    piece = {"huge-body": CHUNK, "huge-error": CHUNK, "endless-lines": LINE * 60, "endless-line": CHUNK}[MODE]
    while True:
        conn.sendall(_chunk(piece))


def _serve(conn: socket.socket) -> None:
    global seen
    with conn:
        try:
            while _read_head(conn):
                with lock:
                    seen += 1
                    with open("/tmp/impostor.requests", "w") as f:
                        f.write(str(seen))
                _answer(conn)
        except OSError:
            pass  # the host gave up on us: good


def main() -> None:
    if os.path.lexists(PATH):
        os.unlink(PATH)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(PATH)
    server.listen(16)
    with open("/tmp/impostor.ready", "w") as f:
        f.write(str(os.getpid()))
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
