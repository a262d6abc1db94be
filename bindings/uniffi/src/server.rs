//! The server state machine for JVM (and other) hosts: the host owns sockets, clock, HTTP
//! client and agents; after every input it drains `poll_transmit`, `poll_event` and reads
//! `poll_timeout`. Safe to call from any thread: the core sits behind a mutex.

use std::fmt;
use std::sync::{Arc, Mutex};

use clawsocket_core as core_api;
use clawsocket_core::{ConnectionId, TurnId};

use crate::error::ClawsocketError;
use crate::lock::locked;
use crate::server_event::ServerEvent;

/// Something to write to one connection's socket.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Transmit {
    /// The connection to write to.
    pub connection: u64,
    /// What to write.
    pub payload: TransmitPayload,
}

/// A WebSocket text frame or the closing handshake.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum TransmitPayload {
    /// A text frame (always one JSON object).
    Text {
        /// The frame.
        text: String,
    },
    /// Close the connection with this code and reason; nothing follows it.
    Close {
        /// WebSocket close code.
        code: u16,
        /// Short human-readable reason.
        reason: String,
    },
}

/// One message of a history page, from the host's store.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryMessage {
    /// Message id.
    pub message_id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// Who wrote it (user messages).
    #[uniffi(default = None)]
    pub sender_id: Option<String>,
    /// Display name (user messages).
    #[uniffi(default = None)]
    pub sender_name: Option<String>,
    /// The text.
    pub content: String,
    /// When, in the host's milliseconds.
    pub at: u64,
}

/// A page of history, oldest message first.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryPage {
    /// Messages, oldest first.
    pub messages: Vec<HistoryMessage>,
    /// Cursor for the next (older) page, when there is one.
    #[uniffi(default = None)]
    pub next_cursor: Option<String>,
}

/// A sender waiting for operator approval.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PairingRequest {
    /// Code the operator approves.
    pub code: String,
    /// Sender waiting.
    pub sender_id: String,
    /// Display name, when known.
    pub sender_name: Option<String>,
}

/// The protocol's server side (see the core's `Server`).
#[derive(uniffi::Object)]
pub struct Server {
    inner: Mutex<core_api::Server>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*locked(&self.inner), f)
    }
}

impl From<core_api::Transmit> for Transmit {
    fn from(t: core_api::Transmit) -> Self {
        Transmit {
            connection: t.connection.0,
            payload: match t.payload {
                core_api::Payload::Text(text) => TransmitPayload::Text { text },
                core_api::Payload::Close { code, reason } => {
                    TransmitPayload::Close { code, reason }
                }
            },
        }
    }
}

impl From<HistoryPage> for core_api::HistoryPage {
    fn from(page: HistoryPage) -> Self {
        core_api::HistoryPage {
            messages: page
                .messages
                .into_iter()
                .map(|m| core_api::HistoryMessage {
                    message_id: m.message_id,
                    role: m.role,
                    sender_id: m.sender_id,
                    sender_name: m.sender_name,
                    content: m.content,
                    at: m.at,
                })
                .collect(),
            next_cursor: page.next_cursor,
        }
    }
}

#[uniffi::export]
impl Server {
    /// A server configured from JSON: a whole OpenClaw-style file
    /// (`{"channels":{"websocket":{...}}}`) or just the `channels.websocket` block.
    #[uniffi::constructor]
    pub fn new(config_json: String) -> Result<Arc<Server>, ClawsocketError> {
        let config = core_api::Config::from_json(&config_json)?;
        Ok(Arc::new(Server {
            inner: Mutex::new(core_api::Server::new(config)),
        }))
    }

    /// Like `new`, with the seed's environment overrides (`WS_AUTH_ENABLED`,
    /// `WS_AUTH_ENDPOINT`) whose values the host read.
    #[uniffi::constructor]
    pub fn with_env(
        config_json: String,
        auth_enabled: Option<String>,
        auth_endpoint: Option<String>,
    ) -> Result<Arc<Server>, ClawsocketError> {
        let mut config = core_api::Config::from_json(&config_json)?;
        config.apply_env(auth_enabled.as_deref(), auth_endpoint.as_deref())?;
        Ok(Arc::new(Server {
            inner: Mutex::new(core_api::Server::new(config)),
        }))
    }

    // ----- outputs -----

    /// The next frame or close to write, in order per connection.
    pub fn poll_transmit(&self) -> Option<Transmit> {
        locked(&self.inner).poll_transmit().map(Transmit::from)
    }

    /// The next request for the host.
    pub fn poll_event(&self) -> Option<Arc<ServerEvent>> {
        locked(&self.inner).poll_event().map(ServerEvent::new)
    }

    /// When `handle_timeout` should next be called (host milliseconds), if anything is due.
    pub fn poll_timeout(&self) -> Option<u64> {
        locked(&self.inner).poll_timeout()
    }

    // ----- connection lifecycle -----

    /// A WebSocket was accepted with this raw URL query; returns the connection id.
    pub fn handle_connect(&self, now: u64, query: String) -> u64 {
        locked(&self.inner).handle_connect(now, &query).0
    }

    /// The auth service answered with this HTTP status and body.
    pub fn handle_auth_response(&self, now: u64, connection: u64, status: u16, body: Vec<u8>) {
        locked(&self.inner).handle_auth_response(now, ConnectionId(connection), status, &body);
    }

    /// The auth service could not be reached.
    pub fn handle_auth_unavailable(&self, now: u64, connection: u64) {
        locked(&self.inner).handle_auth_unavailable(now, ConnectionId(connection));
    }

    /// The socket is gone (replies keep running for the session's other connections).
    pub fn handle_disconnect(&self, now: u64, connection: u64) -> Result<(), ClawsocketError> {
        Ok(locked(&self.inner).handle_disconnect(now, ConnectionId(connection))?)
    }

    /// A text frame arrived, as raw bytes (the core checks size and UTF-8).
    pub fn handle_text(
        &self,
        now: u64,
        connection: u64,
        data: Vec<u8>,
    ) -> Result<(), ClawsocketError> {
        Ok(locked(&self.inner).handle_text(now, ConnectionId(connection), &data)?)
    }

    /// A binary frame arrived (refused with a `chat.error`; the connection stays usable).
    pub fn handle_binary(
        &self,
        now: u64,
        connection: u64,
        data: Vec<u8>,
    ) -> Result<(), ClawsocketError> {
        Ok(locked(&self.inner).handle_binary(now, ConnectionId(connection), &data)?)
    }

    /// Runs every deadline due at `now`.
    pub fn handle_timeout(&self, now: u64) {
        locked(&self.inner).handle_timeout(now);
    }

    /// Cancels every reply and closes every connection (1001).
    pub fn handle_shutdown(&self, now: u64) {
        locked(&self.inner).handle_shutdown(now);
    }

    // ----- agent output -----

    /// The agent produced more text for `turn` (only the new part).
    pub fn handle_agent_delta(
        &self,
        now: u64,
        turn: u64,
        delta: String,
    ) -> Result<(), ClawsocketError> {
        Ok(locked(&self.inner).handle_agent_delta(now, TurnId(turn), &delta)?)
    }

    /// The agent's whole text so far (agents that stream cumulative text).
    pub fn handle_agent_text(
        &self,
        now: u64,
        turn: u64,
        text: String,
    ) -> Result<(), ClawsocketError> {
        Ok(locked(&self.inner).handle_agent_text(now, TurnId(turn), &text)?)
    }

    /// The agent finished; `text` is the final reply, `None` uses the streamed text.
    pub fn handle_agent_final(
        &self,
        now: u64,
        turn: u64,
        text: Option<String>,
    ) -> Result<(), ClawsocketError> {
        Ok(locked(&self.inner).handle_agent_final(now, TurnId(turn), text.as_deref())?)
    }

    /// The agent failed; the client gets `chat.error` with code `agent_error`.
    pub fn handle_agent_error(
        &self,
        now: u64,
        turn: u64,
        message: String,
    ) -> Result<(), ClawsocketError> {
        Ok(locked(&self.inner).handle_agent_error(now, TurnId(turn), &message)?)
    }

    // ----- host answers -----

    /// Answers a `fetch_history` event with a page.
    pub fn handle_history(
        &self,
        now: u64,
        request: u64,
        page: HistoryPage,
    ) -> Result<(), ClawsocketError> {
        Ok(locked(&self.inner).handle_history(now, request, Ok(page.into()))?)
    }

    /// Answers a `fetch_history` event with a failure (the client gets `history_unavailable`).
    pub fn handle_history_error(
        &self,
        now: u64,
        request: u64,
        reason: String,
    ) -> Result<(), ClawsocketError> {
        Ok(locked(&self.inner).handle_history(now, request, Err(&reason))?)
    }

    /// An operator approved a pairing code; returns the sender it admits.
    pub fn approve_pairing(&self, now: u64, code: String) -> Result<String, ClawsocketError> {
        Ok(locked(&self.inner).approve_pairing(now, &code)?)
    }

    /// Admits a sender under `dmPolicy: pairing` (restoring persisted approvals).
    pub fn allow_sender(&self, sender_id: String) {
        locked(&self.inner).allow_sender(&sender_id);
    }

    /// Records a dynamic agent provisioned before a restart.
    pub fn restore_dynamic_agent(&self, agent_id: String) {
        locked(&self.inner).restore_dynamic_agent(&agent_id);
    }

    /// Every session's sequence counter and replay buffer as JSON, to persist.
    pub fn export_sessions(&self) -> String {
        locked(&self.inner).export_sessions()
    }

    /// Restores sessions from `export_sessions` (before accepting connections).
    pub fn restore_sessions(&self, now: u64, exported: String) -> Result<(), ClawsocketError> {
        Ok(locked(&self.inner).restore_sessions(now, &exported)?)
    }

    // ----- observation -----

    /// Connections known to the core (any state).
    pub fn connection_count(&self) -> u64 {
        locked(&self.inner).connection_count() as u64
    }

    /// Sessions held in memory.
    pub fn session_count(&self) -> u64 {
        locked(&self.inner).session_count() as u64
    }

    /// Turns accepted and not finished.
    pub fn turn_count(&self) -> u64 {
        locked(&self.inner).turn_count() as u64
    }

    /// Pairing requests waiting for an operator.
    pub fn pending_pairings(&self) -> Vec<PairingRequest> {
        locked(&self.inner)
            .pending_pairings()
            .into_iter()
            .map(|(code, sender_id, sender_name)| PairingRequest {
                code,
                sender_id,
                sender_name,
            })
            .collect()
    }
}
