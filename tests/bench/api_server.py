"""The server process of ``bench_api``/``bench_warm``: ``python -m tests.bench.api_server DATA_DIR
[--hello | --docker IMAGE]``.

Serves Hangar on a free loopback port with a zero-latency scripted model and in-process boxes
(``LocalProvider``: a box is ready at once, like one from a warm pool); with ``--docker IMAGE``
real Docker boxes built by the server's own composition root (warm pool, kept boxes), the model
making one ``list_files`` call per turn; or with ``--hello`` a bare FastAPI app with one JSON
endpoint (the baseline). Prints the port on stdout, then serves until killed.
"""

from __future__ import annotations

import secrets
import socket
import sys
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from runtime.agents import AgentRegistry
from runtime.api import create_app
from runtime.config import Settings
from runtime.llm import ScriptedModel, call, turn
from runtime.llm.script import JsonDict, ScriptedTurn
from runtime.sandbox.local import LocalProvider
from runtime.worker.agent_runner import AgentRunner

KEY = "hk_bench_key"
AGENT = "id: bench\ndescription: bench agent\nsystem_instruction: bench\nbuiltin_tools: [files]\n"
TOOL_STEPS = 5


def respond(request: JsonDict) -> ScriptedTurn:
    """Stateless, so concurrent runs share it: ``TOOL_STEPS`` ``list_files`` calls, then an answer.
    Each call id carries the wall time it was made at (``bench_api`` measures delivery with it)."""
    answered = sum(
        1 for c in request.get("contents", []) for p in c.get("parts", []) if "functionResponse" in p
    )
    if answered >= TOOL_STEPS:
        return turn("done")
    return turn(calls=[call("list_files", id=f"t{time.time():.6f}")])


def hangar_app(data_dir: Path) -> FastAPI:
    agents_dir = data_dir / "agents"
    agents_dir.mkdir(parents=True, exist_ok=True)
    (agents_dir / "bench.yaml").write_text(AGENT)
    settings = Settings(
        data_dir=data_dir, api_key=SecretStr(KEY), agents_dir=agents_dir, sandboxes=False,
        worker_concurrency=32, poll_seconds=0.5,
    )
    model = ScriptedModel(respond)
    runner = AgentRunner(AgentRegistry.from_folder(agents_dir), LocalProvider(), model)
    return create_app(settings, model_client=model, runners={"agent": runner})


def respond_once(request: JsonDict) -> ScriptedTurn:
    """One ``list_files`` call per turn (counted from the turn's own user input), then an answer."""
    contents = request.get("contents", [])
    starts = [
        i for i, c in enumerate(contents)
        if c.get("role") == "user" and any("text" in p for p in c.get("parts", []))
    ]
    since = contents[starts[-1] if starts else 0:]
    if any("functionResponse" in p for c in since for p in c.get("parts", [])):
        return turn("done")
    return turn(calls=[call("list_files", id=f"t{time.time():.6f}")])


def docker_app(data_dir: Path, image: str) -> FastAPI:
    """Hangar with real Docker boxes from its composition root (the provider, pool, kept boxes)."""
    agents_dir = data_dir / "agents"
    agents_dir.mkdir(parents=True, exist_ok=True)
    (agents_dir / "bench.yaml").write_text(AGENT)
    settings = Settings(
        data_dir=data_dir, api_key=SecretStr(KEY), agents_dir=agents_dir, sandbox_image=image,
        sandbox_namespace=f"bench-{secrets.token_hex(3)}", poll_seconds=0.5,
    )
    model = ScriptedModel(respond_once)
    return create_app(settings, model_client=model)


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def main() -> None:
    data_dir = Path(sys.argv[1])
    if "--docker" in sys.argv:
        app = docker_app(data_dir, sys.argv[sys.argv.index("--docker") + 1])
    else:
        app = hello_app() if "--hello" in sys.argv else hangar_app(data_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
