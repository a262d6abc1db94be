//! `Server`: the core's server state machine, method for method.

use clawsocket_core::{
    ConnectionId, Event, HistoryMessage, HistoryPage, Payload, PayloadRef, TurnId,
};
use napi::bindgen_prelude::{BufferSlice, Either};
use napi_derive::napi;

use crate::config::Config;
use napi::Result;

use crate::encode;
use crate::error::{self, Code};
use crate::input;

/// A close handshake to perform.
#[napi(object)]
#[derive(Debug)]
pub struct Close {
    /// WebSocket close code.
    pub code: u32,
    /// Short reason.
    pub reason: String,
}

/// Something to write on one connection: a text frame or a close (never both).
#[napi(object)]
#[derive(Debug)]
pub struct Transmit {
    /// Connection to write to.
    pub connection: i64,
    /// Text frame (one JSON object).
    pub text: Option<String>,
    /// Close with this code and reason; nothing follows.
    pub close: Option<Close>,
}

impl From<clawsocket_core::Transmit> for Transmit {
    fn from(t: clawsocket_core::Transmit) -> Self {
        let connection = input::number(t.connection.0);
        match t.payload {
            Payload::Text(text) => Transmit {
                connection,
                text: Some(text),
                close: None,
            },
            Payload::Close { code, reason } => Transmit {
                connection,
                text: None,
                close: Some(Close {
                    code: u32::from(code),
                    reason,
                }),
            },
        }
    }
}

/// Work for the host. `json` is the event's canonical JSON (the shared vectors compare it);
/// the ids the host needs to answer are also given as numbers.
#[napi(object)]
#[derive(Debug)]
pub struct ServerEvent {
    /// `verify_token`, `provision_agent`, `run_turn`, `cancel_turn`, `turn_finished`,
    /// `pairing_requested`, `pairing_approved` or `fetch_history`.
    pub kind: String,
    /// Canonical JSON: `{"event":"<kind>", ...}`.
    pub json: String,
    /// Connection concerned (`verify_token`, `run_turn`).
    pub connection: Option<i64>,
    /// Turn concerned (`run_turn`, `cancel_turn`, `turn_finished`).
    pub turn: Option<i64>,
    /// Request id to answer (`fetch_history`).
    pub request: Option<i64>,
}

/// The ids an event carries for the host to answer with.
struct EventIds {
    connection: Option<u64>,
    turn: Option<u64>,
    request: Option<u64>,
}

impl EventIds {
    fn of(event: &Event) -> Self {
        let (connection, turn, request) = match event {
            Event::VerifyToken { connection, .. } => (Some(connection.0), None, None),
            Event::RunTurn(t) => (Some(t.connection().0), Some(t.id().0), None),
            Event::CancelTurn { turn, .. } | Event::TurnFinished { turn, .. } => {
                (None, Some(turn.0), None)
            }
            Event::FetchHistory { request, .. } => (None, None, Some(*request)),
            _ => (None, None, None),
        };
        EventIds {
            connection,
            turn,
            request,
        }
    }
}

impl From<Event> for ServerEvent {
    fn from(event: Event) -> Self {
        let ids = EventIds::of(&event);
        ServerEvent {
            kind: event.kind().to_owned(),
            json: event.to_json(),
            connection: ids.connection.map(input::number),
            turn: ids.turn.map(input::number),
            request: ids.request.map(input::number),
        }
    }
}

/// One stored message for a `chat.history` page.
#[napi(object)]
#[derive(Debug)]
pub struct HistoryMessageInput {
    /// Message id.
    pub message_id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// Who wrote it (user messages).
    pub sender_id: Option<String>,
    /// Display name (user messages).
    pub sender_name: Option<String>,
    /// The text.
    pub content: String,
    /// When, in the host's milliseconds.
    pub at: i64,
}

/// A page of history, oldest first.
#[napi(object)]
#[derive(Debug)]
pub struct HistoryPageInput {
    /// Messages, oldest first.
    pub messages: Vec<HistoryMessageInput>,
    /// Cursor for the next (older) page.
    pub next_cursor: Option<String>,
}

/// A sender waiting for operator approval (`dmPolicy: pairing`).
#[napi(object)]
#[derive(Debug)]
pub struct PairingRequest {
    /// Code the operator approves.
    pub code: String,
    /// Sender waiting.
    pub sender_id: String,
    /// Display name, when known.
    pub sender_name: Option<String>,
}

/// The protocol's server side. After every `handle*` call drain `pollTransmit` (or
/// `pollTransmits`), `pollEvent` (or `pollEvents`) and re-arm the timer from `pollTimeout`.
#[napi]
#[derive(Debug)]
pub struct Server {
    inner: clawsocket_core::Server,
}

#[napi]
impl Server {
    /// A server with this configuration (the defaults when absent).
    #[napi(constructor)]
    pub fn new(config: Option<&Config>) -> Self {
        let config = config.map(|c| c.inner.clone()).unwrap_or_default();
        Server {
            inner: clawsocket_core::Server::new(config),
        }
    }

    /// The configuration in force.
    #[napi(getter)]
    pub fn config(&self) -> Config {
        Config {
            inner: self.inner.config().clone(),
        }
    }

    /// A WebSocket was accepted with this raw URL query; returns its connection id.
    #[napi]
    pub fn handle_connect(&mut self, now: i64, query: String) -> i64 {
        input::number(self.inner.handle_connect(input::millis(now), &query).0)
    }

    /// The auth service answered `verify_token` with this HTTP status and body.
    #[napi]
    pub fn handle_auth_response(
        &mut self,
        now: i64,
        connection: i64,
        status: u32,
        body: Either<String, BufferSlice<'_>>,
    ) {
        let status = u16::try_from(status).unwrap_or(0);
        self.inner.handle_auth_response(
            input::millis(now),
            conn(connection),
            status,
            input::bytes(&body),
        );
    }

    /// The auth service could not be reached.
    #[napi]
    pub fn handle_auth_unavailable(&mut self, now: i64, connection: i64) {
        self.inner
            .handle_auth_unavailable(input::millis(now), conn(connection));
    }

    /// The socket is gone. Replies keep running (a disconnect is never a cancel).
    #[napi]
    pub fn handle_disconnect(&mut self, now: i64, connection: i64) -> Result<(), Code> {
        self.inner
            .handle_disconnect(input::millis(now), conn(connection))
            .map_err(error::usage)
    }

    /// A text frame arrived: a string or the raw bytes (the core checks size and UTF-8).
    #[napi]
    pub fn handle_text(
        &mut self,
        now: i64,
        connection: i64,
        data: Either<String, BufferSlice<'_>>,
    ) -> Result<(), Code> {
        self.inner
            .handle_text(input::millis(now), conn(connection), input::bytes(&data))
            .map_err(error::usage)
    }

    /// A binary frame arrived (refused with `binary_frame`; the connection stays usable).
    #[napi]
    pub fn handle_binary(
        &mut self,
        now: i64,
        connection: i64,
        data: BufferSlice<'_>,
    ) -> Result<(), Code> {
        self.inner
            .handle_binary(input::millis(now), conn(connection), &data)
            .map_err(error::usage)
    }

    /// Runs every deadline due at `now`.
    #[napi]
    pub fn handle_timeout(&mut self, now: i64) {
        self.inner.handle_timeout(input::millis(now));
    }

    /// Cancels every reply and closes every connection with 1001.
    #[napi]
    pub fn handle_shutdown(&mut self, now: i64) {
        self.inner.handle_shutdown(input::millis(now));
    }

    /// The agent produced more text for `turn` (only the new part).
    #[napi]
    pub fn handle_agent_delta(&mut self, now: i64, turn: i64, delta: String) -> Result<(), Code> {
        self.inner
            .handle_agent_delta(input::millis(now), turn_id(turn), &delta)
            .map_err(error::usage)
    }

    /// The agent's whole text so far (agents that stream cumulative text).
    #[napi]
    pub fn handle_agent_text(&mut self, now: i64, turn: i64, text: String) -> Result<(), Code> {
        self.inner
            .handle_agent_text(input::millis(now), turn_id(turn), &text)
            .map_err(error::usage)
    }

    /// The agent finished; `text` is the final reply, absent to use the streamed text.
    #[napi]
    pub fn handle_agent_final(
        &mut self,
        now: i64,
        turn: i64,
        text: Option<String>,
    ) -> Result<(), Code> {
        self.inner
            .handle_agent_final(input::millis(now), turn_id(turn), text.as_deref())
            .map_err(error::usage)
    }

    /// The agent failed; the client gets `chat.error` with code `agent_error`.
    #[napi]
    pub fn handle_agent_error(&mut self, now: i64, turn: i64, message: String) -> Result<(), Code> {
        self.inner
            .handle_agent_error(input::millis(now), turn_id(turn), &message)
            .map_err(error::usage)
    }

    /// Answers `fetch_history`: a page, or a string saying why there is none.
    #[napi]
    pub fn handle_history(
        &mut self,
        now: i64,
        request: i64,
        page: Either<String, HistoryPageInput>,
    ) -> Result<(), Code> {
        let now = input::millis(now);
        let request = input::id(request);
        let result = match page {
            Either::A(reason) => self.inner.handle_history(now, request, Err(&reason)),
            Either::B(page) => {
                let page = HistoryPage {
                    messages: page
                        .messages
                        .into_iter()
                        .map(|m| HistoryMessage {
                            message_id: m.message_id,
                            role: m.role,
                            sender_id: m.sender_id,
                            sender_name: m.sender_name,
                            content: m.content,
                            at: input::millis(m.at),
                        })
                        .collect(),
                    next_cursor: page.next_cursor,
                };
                self.inner.handle_history(now, request, Ok(page))
            }
        };
        result.map_err(error::usage)
    }

    /// An operator approved a pairing code; returns the sender it admits.
    #[napi]
    pub fn approve_pairing(&mut self, now: i64, code: String) -> Result<String, Code> {
        self.inner
            .approve_pairing(input::millis(now), &code)
            .map_err(error::usage)
    }

    /// Admits a sender under `dmPolicy: pairing` (restoring persisted approvals).
    #[napi]
    pub fn allow_sender(&mut self, sender_id: String) {
        self.inner.allow_sender(&sender_id);
    }

    /// Records a dynamic agent the host already provisioned.
    #[napi]
    pub fn restore_dynamic_agent(&mut self, agent_id: String) {
        self.inner.restore_dynamic_agent(&agent_id);
    }

    /// Sessions' sequence counters and replay buffers as JSON, to persist.
    #[napi]
    pub fn export_sessions(&self) -> String {
        self.inner.export_sessions()
    }

    /// Restores what `exportSessions` returned (before accepting connections).
    #[napi]
    pub fn restore_sessions(&mut self, now: i64, exported: String) -> Result<(), Code> {
        self.inner
            .restore_sessions(input::millis(now), &exported)
            .map_err(error::usage)
    }

    /// The next frame or close to write, or `null`.
    #[napi]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.inner.poll_transmit().map(Transmit::from)
    }

    /// Every pending frame and close, in order (one call instead of one per frame).
    #[napi]
    pub fn poll_transmits(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.inner.poll_transmit())
            .map(Transmit::from)
            .collect()
    }

    /// The next event for the host, or `null`.
    #[napi]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.inner.poll_event().map(ServerEvent::from)
    }

    /// Every pending event, in order.
    #[napi]
    pub fn poll_events(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.inner.poll_event())
            .map(ServerEvent::from)
            .collect()
    }

    /// Every pending transmit, then every pending event, encoded in one string: the fast path
    /// behind `drain()` (drain.js), which decodes it into the same objects as `pollTransmits`
    /// and `pollEvents`. Creating each output object and its strings through Node-API costs
    /// several times the core's own work; one string per drain makes that one crossing.
    /// Records follow each other, each a header, `:`, then a payload of the stated length in
    /// UTF-16 code units (JavaScript string length), so payloads may hold any character:
    /// `T <connection> <length>:<text>`, `C <connection> <code> <length>:<reason>`,
    /// `E <kind> <connection> <turn> <request> <length>:<json>` (absent ids are `-`).
    #[napi]
    pub fn drain_encoded(&mut self) -> String {
        let mut out = String::new();
        // Frames are copied straight from the core's buffer into the encoded string.
        while let Some(t) = self.inner.poll_transmit_ref() {
            match t.payload {
                PayloadRef::Text(text) => {
                    out.push('T');
                    encode::numbers(&mut out, &[Some(t.connection.0)]);
                    encode::payload(&mut out, text);
                }
                PayloadRef::Close { code, reason } => {
                    out.push('C');
                    encode::numbers(&mut out, &[Some(t.connection.0), Some(u64::from(code))]);
                    encode::payload(&mut out, reason);
                }
            }
        }
        while let Some(event) = self.inner.poll_event() {
            let ids = EventIds::of(&event);
            out.push_str("E ");
            out.push_str(event.kind());
            encode::numbers(&mut out, &[ids.connection, ids.turn, ids.request]);
            encode::payload(&mut out, &event.to_json());
        }
        out
    }

    /// When `handleTimeout` should next be called (host milliseconds), or `null`.
    #[napi]
    pub fn poll_timeout(&self) -> Option<i64> {
        self.inner.poll_timeout().map(input::number)
    }

    /// Connections known to the core.
    #[napi(getter)]
    pub fn connection_count(&self) -> u32 {
        count(self.inner.connection_count())
    }

    /// Sessions held in memory.
    #[napi(getter)]
    pub fn session_count(&self) -> u32 {
        count(self.inner.session_count())
    }

    /// Turns accepted and not finished.
    #[napi(getter)]
    pub fn turn_count(&self) -> u32 {
        count(self.inner.turn_count())
    }

    /// Pairing requests waiting for an operator.
    #[napi]
    pub fn pending_pairings(&self) -> Vec<PairingRequest> {
        self.inner
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

fn conn(id: i64) -> ConnectionId {
    ConnectionId(input::id(id))
}

fn turn_id(id: i64) -> TurnId {
    TurnId(input::id(id))
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
