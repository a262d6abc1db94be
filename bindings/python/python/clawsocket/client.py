"""An asyncio client on the core's :class:`Client` state machine: connect, send, and iterate
over streamed replies. Reconnects and resumes (protocol 2) as the core schedules."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any, AsyncIterator, Optional, Union
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from ._core import (
    ClawsocketError,
    Client,
    Closed,
    ErrorEvent,
    Partial,
    Ready,
    Reconnect,
    Reply,
)

# Close code reported to the core when a socket failed without a closing handshake.
CLOSE_ABNORMAL = 1006
# Unread events kept for events() before the oldest are dropped.
EVENT_BACKLOG = 1000


class ChatError(ClawsocketError):
    """The server refused a message, the agent failed, or the connection was refused.

    ``code`` is the server's stable error code (``None`` from seed servers that send none).
    """

    def __init__(self, message: str, code: Optional[str] = None, message_id: Optional[str] = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[assignment]
        self.message_id = message_id
        self.retryable = retryable


class ChatClient:
    """A connection to a clawsocket (or openclaw-websocket) server. Create with :func:`connect`."""

    def __init__(
        self,
        url: str,
        *,
        sender_id: Optional[str] = None,
        sender_name: Optional[str] = None,
        token: Optional[str] = None,
        protocol: int = 2,
        stream: str = "delta",
        message_id_prefix: Optional[str] = None,
        reconnect_base_ms: int = 500,
        reconnect_max_ms: int = 30_000,
    ) -> None:
        self._url = url
        self._core = Client(
            sender_id=sender_id,
            sender_name=sender_name,
            token=token,
            protocol=protocol,
            stream=stream,  # type: ignore[arg-type]
            # Unique per client so that resent messages never collide with another device's.
            message_id_prefix=message_id_prefix or f"py-{secrets.token_hex(4)}",
            reconnect_base_ms=reconnect_base_ms,
            reconnect_max_ms=reconnect_max_ms,
        )
        self.ready: Optional[Ready] = None
        self._ws: Optional[ClientConnection] = None
        self._outbox: Optional[asyncio.Queue[str]] = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: Optional[asyncio.TimerHandle] = None
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribers: dict[str, asyncio.Queue[Any]] = {}
        self._ready_waiter: asyncio.Future[Ready] = asyncio.get_running_loop().create_future()
        self._last_error: Optional[ErrorEvent] = None
        self._closed = False

    # ----- lifecycle -----

    async def start(self, timeout: Optional[float] = 10.0) -> Ready:
        """Connects and waits for the server's ready frame."""
        self._pump()
        return await asyncio.wait_for(asyncio.shield(self._ready_waiter), timeout)

    async def close(self) -> None:
        """Stops reconnecting and closes the socket."""
        self._closed = True
        self._core.stop()
        if self._timer is not None:
            self._timer.cancel()
        if self._ws is not None:
            await self._ws.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)

    async def __aenter__(self) -> "ChatClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----- chatting -----

    def send(self, content: str, **options: Any) -> str:
        """Queues a ``chat.send`` (options as :meth:`Client.send`) and returns its message id."""
        message_id = self._core.send(_now(), content, **options)
        self._pump()
        return message_id

    async def stream(self, content: str, **options: Any) -> AsyncIterator[Union[Partial, Reply]]:
        """Sends ``content`` and yields its reply as it grows: :class:`Partial` events (text so
        far), then the final :class:`Reply`. Raises :class:`ChatError` if the server refuses."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        message_id = options.get("message_id")
        if message_id is None:
            message_id = self._core.send(_now(), content, **options)
        else:
            self._core.send(_now(), content, **options)
        self._subscribers[message_id] = queue
        self._pump()
        try:
            while True:
                event = await queue.get()
                if isinstance(event, ErrorEvent):
                    raise ChatError(event.message, event.code, event.message_id, event.retryable)
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, (Partial, Reply)):
                    yield event
                    if isinstance(event, Reply):
                        return
        finally:
            self._subscribers.pop(message_id, None)

    async def ask(self, content: str, **options: Any) -> str:
        """Sends ``content`` and returns the complete reply text."""
        async for event in self.stream(content, **options):
            if isinstance(event, Reply):
                return event.text
        raise ChatError("connection closed before the reply", "closed")

    def cancel(self, message_id: Optional[str] = None) -> None:
        """Asks the server to stop a running reply (protocol 2)."""
        self._core.cancel(message_id)
        self._pump()

    async def events(self) -> AsyncIterator[Any]:
        """Every client event not consumed by :meth:`stream` / :meth:`ask`, until closed."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    # ----- driving the core -----

    def _pump(self) -> None:
        core = self._core
        while True:
            events = core.poll_events()
            if not events:
                break
            for event in events:
                self._dispatch(event)
        if self._outbox is not None:
            for frame in core.poll_transmits():
                self._outbox.put_nowait(frame)
        self._schedule_timer()

    def _dispatch(self, event: Any) -> None:
        if isinstance(event, Reconnect):
            if not self._closed:
                self._spawn(self._open())
            return
        if isinstance(event, Ready):
            self.ready = event
            if not self._ready_waiter.done():
                self._ready_waiter.set_result(event)
        elif isinstance(event, ErrorEvent) and event.message_id is None:
            self._last_error = event
        elif isinstance(event, Closed) and not event.reconnecting:
            self._finish(event)
        message_id = getattr(event, "message_id", None)
        queue = self._subscribers.get(message_id) if message_id else None
        if queue is None:
            queue = self._events
            if queue.qsize() >= EVENT_BACKLOG:
                queue.get_nowait()  # nobody reads events(): keep only the newest
        queue.put_nowait(event)

    def _finish(self, closed: Closed) -> None:
        """The server closed for good: fail whoever waits."""
        err = self._last_error
        failure = ChatError(
            err.message if err else f"connection closed ({closed.code})",
            err.code if err else "closed",
        )
        if not self._ready_waiter.done():
            self._ready_waiter.set_exception(failure)
        for queue in self._subscribers.values():
            queue.put_nowait(failure)
        self._events.put_nowait(closed)
        self._events.put_nowait(None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _schedule_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        at = self._core.poll_timeout()
        if at is not None and not self._closed:
            delay = max(0.0, (at - _now() + 1) / 1000.0)
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._core.handle_timeout(_now())
        self._pump()

    def _connect_url(self) -> str:
        parts = urlsplit(self._url)
        query = self._core.connect_query()
        if parts.query:
            query = f"{parts.query}&{query}" if query else parts.query
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))

    async def _open(self) -> None:
        try:
            ws = await ws_connect(self._connect_url(), compression=None)
        except (OSError, InvalidHandshake, asyncio.TimeoutError):
            self._core.handle_close(_now(), CLOSE_ABNORMAL)
            self._pump()
            return
        if self._closed:
            await ws.close()
            return
        self._ws = ws
        outbox: asyncio.Queue[str] = asyncio.Queue()
        self._outbox = outbox
        self._core.handle_open(_now())
        writer = asyncio.ensure_future(self._write(ws, outbox))
        self._pump()
        try:
            async for message in ws:
                if isinstance(message, str):
                    try:
                        self._core.handle_frame(_now(), message)
                    except ClawsocketError:
                        pass  # not a server frame this client can read; skip it
                    self._pump()
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            if self._outbox is outbox:
                self._outbox = None
                self._ws = None
            code = ws.close_code if ws.close_code is not None else CLOSE_ABNORMAL
            self._core.handle_close(_now(), code)
            self._pump()

    @staticmethod
    async def _write(ws: ClientConnection, outbox: asyncio.Queue[str]) -> None:
        try:
            while True:
                await ws.send(await outbox.get())
        except ConnectionClosed:
            return


def _now() -> int:
    return int(time.monotonic() * 1000.0)


async def connect(url: str, *, timeout: Optional[float] = 10.0, **options: Any) -> ChatClient:
    """Connects to ``url`` (``ws://host:port/ws``) and waits for the server to be ready.

    ``options``: ``sender_id``, ``sender_name``, ``token``, ``protocol`` (1 or 2), ``stream``
    (``"delta"`` or ``"cumulative"``), ``message_id_prefix``, reconnect delays.
    Raises :class:`ChatError` when the server refuses the connection (e.g. authentication).
    """
    client = ChatClient(url, **options)
    try:
        await client.start(timeout)
    except BaseException:
        await client.close()
        raise
    return client
