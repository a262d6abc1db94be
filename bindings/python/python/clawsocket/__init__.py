"""clawsocket: the openclaw-websocket chat protocol for Python.

The protocol itself is the Rust core (``clawsocket._core``), exposed one to one as
:class:`Server` and :class:`Client`. On top of it, in pure Python:

* :func:`serve` / :func:`start_server` host an agent (an async generator) over WebSocket;
* :func:`connect` is an asyncio client that streams replies.
"""

from ._core import (
    CLOSE_AUTH,
    CLOSE_GOING_AWAY,
    CLOSE_TIMEOUT,
    ERROR_CODES,
    PROTOCOL_VERSION,
    Acked,
    CancelTurn,
    ClawsocketError,
    Client,
    ClientError,
    Closed,
    Config,
    ConfigError,
    ErrorEvent,
    FetchHistory,
    History,
    HistoryMessage,
    HistoryPage,
    PairingApproved,
    PairingRequested,
    Partial,
    ProvisionAgent,
    Ready,
    Reconnect,
    Reply,
    ResumeGap,
    RunTurn,
    Server,
    Transmit,
    Turn,
    TurnFinished,
    Typing,
    UsageError,
    VerifyToken,
    __version__,
)
from typing import Union

from .client import ChatClient, ChatError, connect
from .host import AgentError, AgentServer, load_config, serve, start_server

#: Any event of :meth:`Server.poll_event`.
Event = Union[
    VerifyToken, ProvisionAgent, RunTurn, CancelTurn, TurnFinished, PairingRequested, PairingApproved, FetchHistory
]
#: Any event of :meth:`Client.poll_event`.
ClientEvent = Union[Ready, Acked, Typing, Partial, Reply, ErrorEvent, ResumeGap, History, Reconnect, Closed]

__all__ = [
    "ClientEvent",
    "Event",
    "CLOSE_AUTH",
    "CLOSE_GOING_AWAY",
    "CLOSE_TIMEOUT",
    "ERROR_CODES",
    "PROTOCOL_VERSION",
    "Acked",
    "AgentError",
    "AgentServer",
    "CancelTurn",
    "ChatClient",
    "ChatError",
    "ClawsocketError",
    "Client",
    "ClientError",
    "Closed",
    "Config",
    "ConfigError",
    "ErrorEvent",
    "FetchHistory",
    "History",
    "HistoryMessage",
    "HistoryPage",
    "PairingApproved",
    "PairingRequested",
    "Partial",
    "ProvisionAgent",
    "Ready",
    "Reconnect",
    "Reply",
    "ResumeGap",
    "RunTurn",
    "Server",
    "Transmit",
    "Turn",
    "TurnFinished",
    "Typing",
    "UsageError",
    "VerifyToken",
    "__version__",
    "connect",
    "load_config",
    "serve",
    "start_server",
]
