"""Test helpers: a real WebSocket client, an HTTP auth service, and scripted agents."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Awaitable, Callable, Optional, TypeVar

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

T = TypeVar("T")
STEP_TIMEOUT = 10.0


def run(coro: Awaitable[T]) -> T:
    """Runs one async test body with an overall bound."""
    return asyncio.run(asyncio.wait_for(coro, 60))  # type: ignore[arg-type]


async def open_ws(url: str, query: str = "") -> ClientConnection:
    return await ws_connect(f"{url}?{query}" if query else url, compression=None)


async def recv(ws: ClientConnection) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT))


async def recv_until(ws: ClientConnection, done: Callable[[dict], bool]) -> list[dict]:
    frames = []
    while True:
        frame = await recv(ws)
        frames.append(frame)
        if done(frame):
            return frames


def is_final(frame: dict) -> bool:
    return frame["type"] == "chat.error" or (frame["type"] == "chat.response" and frame.get("done") is True)


async def eventually(check: Callable[[], bool], what: str) -> None:
    for _ in range(int(STEP_TIMEOUT / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class MemoryAgent:
    """Remembers each session's messages; answers in two chunks."""

    def __init__(self) -> None:
        self.contexts: list[dict] = []
        self.memory: dict[str, list[str]] = {}

    async def __call__(self, turn: dict) -> Any:
        self.contexts.append(turn)
        said = self.memory.setdefault(turn["sessionKey"], [])
        said.append(turn["content"])
        if turn["content"] == "What is my name?":
            names = [s[len("My name is "):] for s in said if s.startswith("My name is ")]
            reply = f"Your name is {names[-1]}." if names else "I do not know your name."
        else:
            reply = f"You said: {turn['content']}"
        half = len(reply) // 2
        yield reply[:half]
        await asyncio.sleep(0)
        yield reply[half:]


class GatedAgent:
    """Yields "Once ", waits for the gate, then " upon a time"; records how it ended."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.finished = False
        self.cancelled = False

    async def __call__(self, turn: dict) -> Any:
        try:
            yield "Once "
            await self.gate.wait()
            yield "upon a time"
            self.finished = True
        except asyncio.CancelledError:
            self.cancelled = True
            raise


class AuthService:
    """A local HTTP auth service following the seed's contract."""

    def __init__(self, users: dict[str, dict]) -> None:
        self.requests: list[dict] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service.requests.append(body)
                user = users.get(body.get("token", ""))
                if user is None:
                    status, answer = 401, {"success": False, "error": "invalid_token"}
                else:
                    status, answer = 200, {"success": True, "data": user}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/auth/verify"

    def __enter__(self) -> "AuthService":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def no_auth(extra: Optional[dict] = None) -> dict:
    config: dict = {"auth": {"enabled": False}}
    config.update(extra or {})
    return config
