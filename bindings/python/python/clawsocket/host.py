"""An asyncio host: the core's :class:`Server` over real sockets (``websockets``), driving an
agent written as an async generator.

The host only moves bytes and time: it feeds every socket event to the core, writes what the
core transmits, runs the work the core asks for (verify a token, run or cancel a turn) and
calls ``handle_timeout`` when the core's next deadline comes. Protocol rules stay in the core.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import Any, AsyncIterator, Awaitable, Callable, Optional, Union
from urllib.parse import urlsplit

from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ._core import (
    CancelTurn,
    Config,
    FetchHistory,
    HistoryPage,
    PairingRequested,
    RunTurn,
    Server,
    UsageError,
    VerifyToken,
)

log = logging.getLogger("clawsocket")

#: An agent: called with the turn context (the dict form of the core's Turn JSON), it either
#: yields text chunks (async generator) or returns the whole reply (coroutine).
Agent = Callable[[dict], Union[AsyncIterator[str], Awaitable[Optional[str]]]]
#: A history store: ``(session_key, limit, cursor) -> HistoryPage`` (plain or async).
HistoryStore = Callable[[str, int, Optional[str]], Union[HistoryPage, Awaitable[HistoryPage]]]
ConfigLike = Union[None, str, dict, Config, "os.PathLike[str]"]

# Frames queued for one socket before it counts as a slow consumer and is closed.
OUTBOUND_LIMIT = 1024
# WebSocket close code for a client that does not read its frames: the core's
# CLOSE_SLOW_CONSUMER, the code every clawsocket host uses.
CLOSE_SLOW_CONSUMER = 4008


class AgentError(Exception):
    """Raise from an agent to fail the turn with this text as the client's error message.

    Any other exception fails the turn with a generic text (and is logged), so internal
    details never reach a remote client.
    """


def load_config(config: ConfigLike = None, *, apply_env: bool = True) -> Config:
    """A :class:`Config` from JSON text, a dict, a path to a JSON file or a Config, with the
    seed's ``WS_AUTH_ENABLED`` / ``WS_AUTH_ENDPOINT`` overrides applied when ``apply_env``."""
    if isinstance(config, Config):
        loaded = config
    elif config is None:
        loaded = Config()
    elif isinstance(config, dict):
        loaded = Config.from_json(json.dumps(config))
    elif isinstance(config, str) and config.lstrip().startswith("{"):
        loaded = Config.from_json(config)
    else:
        with open(os.fspath(config), encoding="utf-8") as f:
            loaded = Config.from_json(f.read())
    if apply_env:
        loaded.apply_env(os.environ.get("WS_AUTH_ENABLED"), os.environ.get("WS_AUTH_ENDPOINT"))
    return loaded


def _post_json(url: str, body: str, timeout_s: float) -> tuple[str, int, bytes]:
    """POSTs the VerifyToken request (seed HTTP contract). Returns ``("response", status,
    body)``, ``("unavailable", 0, b"")`` or ``("timeout", 0, b"")``."""
    request = urllib.request.Request(
        url,
        data=body.encode("utf-8"),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (configured http(s) URL)
            return ("response", response.status, response.read())
    except urllib.error.HTTPError as err:
        return ("response", err.code, err.read() or b"")
    except TimeoutError:
        return ("timeout", 0, b"")
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            return ("timeout", 0, b"")
        return ("unavailable", 0, b"")
    except OSError:
        return ("unavailable", 0, b"")


class _Peer:
    """One accepted socket and its ordered writer."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[Union[str, tuple[int, str]]] = asyncio.Queue()
        self.closing = False
        self.writer = asyncio.get_running_loop().create_task(self._write())

    def push_text(self, text: str) -> None:
        if self.closing:
            return
        if self.queue.qsize() >= OUTBOUND_LIMIT:
            # Bounded buffering: a client that does not read is closed, not buffered forever.
            self.push_close(CLOSE_SLOW_CONSUMER, "Slow consumer")
            return
        self.queue.put_nowait(text)

    def push_close(self, code: int, reason: str) -> None:
        if not self.closing:
            self.closing = True
            self.queue.put_nowait((code, reason))

    async def _write(self) -> None:
        try:
            while True:
                item = await self.queue.get()
                if isinstance(item, str):
                    await self.ws.send(item)
                else:
                    await self.ws.close(item[0], item[1])
                    return
        except ConnectionClosed:
            return


class AgentServer:
    """Hosts ``agent`` behind the clawsocket protocol. Use :func:`start_server` or :func:`serve`."""

    def __init__(
        self,
        agent: Agent,
        config: ConfigLike = None,
        *,
        apply_env: bool = True,
        history: Optional[HistoryStore] = None,
        on_event: Optional[Callable[[Any], None]] = None,
    ) -> None:
        self.config = load_config(config, apply_env=apply_env)
        self.core = Server(self.config)
        self._agent = agent
        self._history = history
        self._on_event = on_event
        self._peers: dict[int, _Peer] = {}
        self._turns: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_at: Optional[int] = None
        self._ws_server: Optional[WsServer] = None
        # Wall-clock milliseconds that never go backwards: epoch offset + monotonic clock.
        self._epoch_ms = time.time() * 1000.0 - time.monotonic() * 1000.0

    # ----- lifecycle -----

    async def start(self, host: Optional[str] = None, port: Optional[int] = None) -> None:
        """Listens on ``host:port`` (defaults: the config's; port 0 picks a free port)."""
        max_frame = self.config.max_frame_bytes
        self._ws_server = await ws_serve(
            self._handle,
            host if host is not None else self.config.host,
            port if port is not None else self.config.port,
            process_request=self._check_path,
            # Room above the core's limit so that it, not the socket layer, answers
            # moderately oversized frames with a frame_too_large error.
            max_size=max(4 * max_frame, 1 << 20),
        )

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        assert self._ws_server is not None, "call start() first"
        return int(next(iter(self._ws_server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        """``ws://host:port/path`` to connect to (loopback when bound to every interface)."""
        assert self._ws_server is not None, "call start() first"
        host = next(iter(self._ws_server.sockets)).getsockname()[0]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"ws://{host}:{self.port}{self.config.path}"

    async def serve_forever(self) -> None:
        """Runs until cancelled."""
        await asyncio.get_running_loop().create_future()

    async def close(self) -> None:
        """Shuts down as the core says: running replies end cancelled, sockets close with 1001."""
        self.core.handle_shutdown(self._now())
        self._pump()
        writers = [p.writer for p in self._peers.values()]
        if writers:
            await asyncio.wait(writers, timeout=2.0)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks) + list(self._turns.values()):
            task.cancel()
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()

    async def __aenter__(self) -> "AgentServer":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def approve_pairing(self, code: str) -> str:
        """Approves a pairing code (``dmPolicy: pairing``); returns the admitted sender id."""
        sender = self.core.approve_pairing(self._now(), code)
        self._pump()
        return sender

    # ----- sockets -----

    def _now(self) -> int:
        return int(self._epoch_ms + time.monotonic() * 1000.0)

    def _check_path(self, connection: ServerConnection, request: Request) -> Optional[Response]:
        if urlsplit(request.path).path != self.config.path:
            return connection.respond(404, "Not Found\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = urlsplit(ws.request.path).query
        conn = self.core.handle_connect(self._now(), query)
        peer = _Peer(ws)
        self._peers[conn] = peer
        self._pump()
        try:
            async for message in ws:
                if isinstance(message, str):
                    self.core.handle_text(self._now(), conn, message)
                else:
                    self.core.handle_binary(self._now(), conn, message)
                self._pump()
        except ConnectionClosed:
            pass
        finally:
            self._peers.pop(conn, None)
            try:
                # Not a cancel: the core keeps the reply running for the session.
                self.core.handle_disconnect(self._now(), conn)
            except UsageError:
                pass
            self._pump()
            if not peer.writer.done():
                peer.writer.cancel()

    # ----- the core's outputs -----

    def _pump(self) -> None:
        core = self.core
        while True:
            transmits = core.poll_transmits()
            events = core.poll_events()
            if not transmits and not events:
                break
            for t in transmits:
                peer = self._peers.get(t.connection)
                if peer is None:
                    continue
                if t.text is not None:
                    peer.push_text(t.text)
                else:
                    peer.push_close(t.close_code or 1000, t.close_reason or "")
            for event in events:
                self._dispatch(event)
        self._schedule_timer()

    def _dispatch(self, event: Any) -> None:
        if self._on_event is not None:
            self._on_event(event)
        if isinstance(event, RunTurn):
            turn = event.turn
            context = json.loads(turn.to_json())
            self._turns[turn.id] = self._spawn(self._run_turn(turn.id, context))
        elif isinstance(event, CancelTurn):
            task = self._turns.pop(event.turn, None)
            if task is not None:
                task.cancel()
        elif isinstance(event, VerifyToken):
            self._spawn(self._verify(event.connection, event.request))
        elif isinstance(event, FetchHistory):
            self._spawn(self._fetch_history(event))
        elif isinstance(event, PairingRequested):
            # The operator needs the code to approve the sender.
            log.warning("pairing requested by %s: approve code %s", event.sender_id, event.code)
        # ProvisionAgent, TurnFinished and PairingApproved need no action from this host;
        # applications that persist them pass on_event.

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _schedule_timer(self) -> None:
        at = self.core.poll_timeout()
        if at == self._timer_at and (self._timer is not None or at is None):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is None:
            return
        # One millisecond late rather than early: the core runs only deadlines already due.
        delay = max(0.0, (at - self._now() + 1) / 1000.0)
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.core.handle_timeout(self._now())
        self._pump()

    # ----- the host's work -----

    async def _run_turn(self, turn: int, context: dict) -> None:
        core = self.core
        try:
            result = self._agent(context)
            if inspect.isawaitable(result):
                text = await result
                core.handle_agent_final(self._now(), turn, text if isinstance(text, str) else None)
            else:
                async for chunk in result:
                    if chunk:
                        core.handle_agent_delta(self._now(), turn, str(chunk))
                        self._pump()
                core.handle_agent_final(self._now(), turn, None)
        except asyncio.CancelledError:
            # The core cancelled the turn and already sent its final frame.
            return
        except AgentError as err:
            core.handle_agent_error(self._now(), turn, str(err))
        except Exception:
            log.exception("agent failed on turn %d", turn)
            core.handle_agent_error(self._now(), turn, "")
        finally:
            if self._turns.get(turn) is asyncio.current_task():
                del self._turns[turn]
            self._pump()

    async def _verify(self, connection: int, request: str) -> None:
        timeout_s = self.config.auth_timeout_ms / 1000.0
        # The core enforces auth.timeout itself; the HTTP timeout only bounds the thread.
        outcome, status, body = await asyncio.to_thread(
            _post_json, self.config.auth_endpoint, request, timeout_s + 1.0
        )
        if outcome == "response":
            self.core.handle_auth_response(self._now(), connection, status, body)
        elif outcome == "unavailable":
            self.core.handle_auth_unavailable(self._now(), connection)
        self._pump()

    async def _fetch_history(self, event: FetchHistory) -> None:
        try:
            if self._history is None:
                self.core.handle_history(self._now(), event.request, error="history is not kept by this host")
            else:
                page = self._history(event.session_key, event.limit, event.cursor)
                if inspect.isawaitable(page):
                    page = await page
                self.core.handle_history(self._now(), event.request, page)
        except UsageError:
            pass  # the connection that asked is gone
        except Exception:
            log.exception("history store failed")
            try:
                self.core.handle_history(self._now(), event.request, error="history store failed")
            except UsageError:
                pass
        self._pump()


async def start_server(
    agent: Agent,
    host: Optional[str] = None,
    port: Optional[int] = None,
    config: ConfigLike = None,
    **options: Any,
) -> AgentServer:
    """Starts hosting ``agent`` and returns the running :class:`AgentServer` (``async with``
    closes it). ``options``: ``apply_env``, ``history``, ``on_event``."""
    server = AgentServer(agent, config, **options)
    await server.start(host, port)
    return server


async def serve(
    agent: Agent,
    host: Optional[str] = None,
    port: Optional[int] = None,
    config: ConfigLike = None,
    **options: Any,
) -> None:
    """Hosts ``agent`` until cancelled (Ctrl-C under ``asyncio.run``)."""
    server = await start_server(agent, host, port, config, **options)
    log.info("clawsocket listening on %s", server.url)
    try:
        await server.serve_forever()
    finally:
        await server.close()
