//! The server side of the protocol as one sans-IO state machine.
//!
//! The host feeds inputs (`handle_*`, each with the current time in milliseconds) and then
//! drains the outputs: [`Server::poll_transmit`] (frames and closes to write),
//! [`Server::poll_event`] (work for the host: verify a token, run or cancel a turn, ...) and
//! [`Server::poll_timeout`] (when to call [`Server::handle_timeout`]). Nothing here blocks,
//! allocates a socket, reads a clock or draws a random number.

use alloc::borrow::{Cow, ToOwned};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use serde_json::Value;

use crate::auth;
use crate::chunk;
use crate::config::{BusyPolicy, Config, DmPolicy, Limits, Timing};
use crate::error::{ErrorCode, UsageError};
use crate::event::{
    AgentProvision, CancelReason, ChatType, ConnectionId, Event, Outcome, TextField, Transmit,
    TransmitRef, Turn, TurnId, TurnParts, TurnText,
};
use crate::id_table::IdTable;
use crate::identity;
use crate::inbound::{self, Field, FieldError, Key, Loose, RawFrame};
use crate::outbound::{self, ErrorExtras, ObjectWriter};
use crate::pairing::{self, Pairing};
use crate::rate::Buckets;
use crate::send::{self, Refusal, SendFrame, INVALID_FORMAT};
use crate::session::{LiveFrame, Session, SessionFrame, StreamMode};
use crate::sessions::{SessionRef, Sessions};
use crate::timers::{Timer, Timers};
use crate::transmits::{Transmits, Written};

/// Highest protocol version this core speaks.
pub const PROTOCOL_VERSION: u8 = 2;

/// Close code for authentication failures (seed behaviour).
pub const CLOSE_AUTH: u16 = 4401;
/// Close code for idle and heartbeat timeouts.
pub const CLOSE_TIMEOUT: u16 = 4408;
/// Close code for a server shutting down (WebSocket "going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code hosts use for a client that stops reading its frames (its bounded outbound queue
/// is full). The core never sends it; it is here so every host uses the same code.
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;

/// Most history messages one `chat.history` may ask for.
const MAX_HISTORY_LIMIT: u64 = 200;
/// Default page size of `chat.history`.
const DEFAULT_HISTORY_LIMIT: u64 = 50;
/// Sessions kept (for resume and idempotency) before the least recently active idle ones go.
const MAX_IDLE_SESSIONS: usize = 10_000;

/// One message of a history page, supplied by the host's store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryMessage {
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
    pub at: u64,
}

/// A page of history, newest last.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryPage {
    /// Messages, oldest first.
    pub messages: Vec<HistoryMessage>,
    /// Cursor for the next (older) page, when there is one.
    pub next_cursor: Option<String>,
}

#[derive(Debug)]
enum ConnState {
    /// Waiting for the auth service; frames wait in order.
    AwaitingAuth {
        deadline: u64,
        pending: VecDeque<String>,
    },
    Open,
    /// A close was sent; input is ignored until the host reports the disconnect.
    Closing,
}

#[derive(Debug, Clone)]
struct Identity {
    /// Shared with every turn being built from this connection, so none copies it first.
    sender_id: Arc<str>,
    sender_name: Option<Arc<str>>,
    authenticated: bool,
    auth: Option<Arc<Value>>,
}

struct Connection {
    state: ConnState,
    query: Vec<(String, String)>,
    identity: Identity,
    protocol: u8,
    stream_mode: StreamMode,
    /// Session keys this (v2) connection is attached to.
    attached: Vec<String>,
    /// The session of this connection's last message (usually the next one's too), and
    /// whether it was the connection's own direct session, whose key needs no rebuilding.
    last_session: Option<(SessionRef, bool)>,
    last_inbound: u64,
    last_outbound: u64,
    /// The scheduled idle check, so it can be removed on disconnect.
    idle_timer_at: Option<u64>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The query holds the token: keep it out of debug output.
        f.debug_struct("Connection")
            .field("state", &self.state)
            .field("sender_id", &self.identity.sender_id)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct TurnState {
    /// Shared with the host once the turn runs.
    turn: Turn,
    /// Its session, found without searching by key.
    session: SessionRef,
    /// Not yet handed to the host (it is queued behind another turn).
    pending_run: bool,
    running: bool,
    text: String,
    last_output: u64,
    last_keepalive: u64,
    /// The scheduled check of this turn, so it can be removed when the turn ends.
    timer_at: Option<u64>,
}

impl TurnState {
    /// The next moment a running turn needs attention (keepalive or agent timeout).
    fn deadline(&self, t: &Timing) -> Option<u64> {
        if !self.running {
            return None;
        }
        running_turn_deadline(t, self.last_output, self.last_keepalive)
    }

    /// Moves the turn's timer to its current deadline. (An entry for an earlier deadline goes
    /// stale: see `Timers`.)
    fn reschedule(&mut self, timers: &mut Timers, timing: &Timing, turn: TurnId) {
        let at = self.deadline(timing);
        if at == self.timer_at {
            return;
        }
        self.timer_at = at;
        if let Some(at) = at {
            timers.schedule(at, Timer::Turn(turn));
        }
    }

    fn session_key(&self) -> &str {
        self.turn.session_key()
    }
    /// The connection the message came in on (a v1 origin gets its own turn's frames).
    fn origin(&self) -> ConnectionId {
        self.turn.connection()
    }
    fn message_id(&self) -> &str {
        self.turn.message_id()
    }
}

#[derive(Debug)]
struct HistoryRequest {
    connection: ConnectionId,
    session_key: String,
    client_id: Option<String>,
}

/// Why an agent failed, as far as a client can act on it ([`Server::handle_agent_failure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentFailure {
    /// Anything else: `agent_error`.
    Failed,
    /// The agent (or the model behind it) ran out of time: `agent_timeout`.
    TimedOut,
    /// The agent's provider refused for rate: `rate_limited` (retryable).
    RateLimited,
}

impl AgentFailure {
    /// The error code the client sees.
    pub const fn code(self) -> ErrorCode {
        match self {
            AgentFailure::Failed => ErrorCode::AgentError,
            AgentFailure::TimedOut => ErrorCode::AgentTimeout,
            AgentFailure::RateLimited => ErrorCode::RateLimited,
        }
    }
}

/// The protocol's server side. See the crate docs for the run loop.
pub struct Server {
    config: Config,
    conns: IdTable<ConnectionId, Connection>,
    sessions: Sessions,
    turns: IdTable<TurnId, TurnState>,
    timers: Timers,
    transmits: Transmits,
    events: VecDeque<Event>,
    buckets: Buckets,
    pairing: Pairing,
    dynamic_agents: BTreeSet<String>,
    history_requests: BTreeMap<u64, HistoryRequest>,
    /// The buffer the next turn's text is written in (kept for its capacity).
    turn_text: String,
    next_connection: u64,
    next_turn: u64,
    next_message: u64,
    next_request: u64,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("connections", &self.conns.len())
            .field("sessions", &self.sessions.len())
            .field("turns", &self.turns.len())
            .finish_non_exhaustive()
    }
}

/// Who receives a session frame besides the attached v2 connections.
#[derive(Clone, Copy)]
enum Origin {
    /// A v1 origin connection gets its own turn's frames (the seed's behaviour).
    Connection(ConnectionId),
    None,
}

impl Server {
    /// A server with this configuration and no connections.
    pub fn new(config: Config) -> Server {
        Server {
            config,
            conns: IdTable::default(),
            sessions: Sessions::default(),
            turns: IdTable::default(),
            timers: Timers::default(),
            transmits: Transmits::default(),
            events: VecDeque::new(),
            buckets: Buckets::default(),
            pairing: Pairing::default(),
            dynamic_agents: BTreeSet::new(),
            history_requests: BTreeMap::new(),
            turn_text: String::new(),
            next_connection: 0,
            next_turn: 0,
            next_message: 0,
            next_request: 0,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ----- outputs -------------------------------------------------------------------------

    /// The next frame or close to write, in order per connection.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop()
    }

    /// [`Server::poll_transmit`] without a copy: the frame is borrowed from the core's
    /// outbound buffer until the next call on the server. For hosts that copy or write the
    /// text at once (the C API, the language bindings).
    pub fn poll_transmit_ref(&mut self) -> Option<TransmitRef<'_>> {
        self.transmits.pop_ref()
    }

    /// The transmit [`Server::poll_transmit_ref`] would return next, left in the queue (a host
    /// can see how long it is before taking it).
    pub fn peek_transmit(&self) -> Option<TransmitRef<'_>> {
        self.transmits.peek()
    }

    /// The next request for the host, in the order the core made them.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Server::handle_timeout`] should next be called, if anything is scheduled.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.next()
    }

    // ----- observation (metrics, tests) ----------------------------------------------------

    /// Connections known to the core (any state).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Sessions held in memory.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Turns accepted and not finished (running or queued).
    pub fn turn_count(&self) -> usize {
        self.turns.len()
    }

    /// Pairing requests waiting for an operator: `(code, sender id, sender name)`.
    pub fn pending_pairings(&self) -> Vec<(String, String, Option<String>)> {
        self.pairing
            .pending()
            .map(|(code, r)| {
                (
                    code.as_str().to_owned(),
                    r.sender_id.clone(),
                    r.sender_name.clone(),
                )
            })
            .collect()
    }

    // ----- connection lifecycle ------------------------------------------------------------

    /// A WebSocket was accepted with this raw URL query (`senderId=...&token=...`, with or
    /// without `?`). Returns the id the host uses for every later input of this connection.
    pub fn handle_connect(&mut self, now: u64, query: &str) -> ConnectionId {
        self.next_connection += 1;
        let id = ConnectionId(self.next_connection);
        let query = identity::parse_query(query);
        let param = |name: &str| {
            query
                .iter()
                .rev()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let sender_id = param("senderId").unwrap_or_else(|| id.to_string());
        let sender_name = param("senderName");
        let protocol = match param("protocol").as_deref() {
            Some("2") => 2,
            _ => 1,
        };
        let stream_mode = match param("stream").as_deref() {
            Some("delta") => StreamMode::Delta,
            _ => StreamMode::Cumulative,
        };
        let token = param("token");
        let conn = Connection {
            state: ConnState::Open,
            query,
            identity: Identity {
                sender_id: sender_id.into(),
                sender_name: sender_name.map(Into::into),
                authenticated: false,
                auth: None,
            },
            protocol,
            stream_mode,
            attached: Vec::new(),
            last_session: None,
            last_inbound: now,
            last_outbound: now,
            idle_timer_at: None,
        };
        self.conns.insert(id, conn);

        if !self.config.auth.enabled {
            self.accept(now, id);
            return id;
        }
        match token {
            Some(_) => {
                let deadline = now + self.config.auth.timeout_ms;
                let request = {
                    let conn = &self.conns[&id];
                    auth::verify_request(&conn.query, &self.config.auth.token_type)
                };
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.state = ConnState::AwaitingAuth {
                        deadline,
                        pending: VecDeque::new(),
                    };
                }
                self.timers.schedule(deadline, Timer::Auth(id));
                self.events.push_back(Event::VerifyToken {
                    connection: id,
                    request,
                });
            }
            None if self.config.auth.required => {
                self.send_error(
                    id,
                    ErrorCode::AuthRequired,
                    "Token required. Connect with ?token=YOUR_TOKEN",
                    &ErrorExtras::default(),
                );
                self.close(id, CLOSE_AUTH, "Token required");
            }
            None => self.accept(now, id),
        }
        id
    }

    /// The auth service answered with this HTTP status and body. Answers for connections that
    /// are gone or no longer waiting (a timeout won the race) are ignored.
    pub fn handle_auth_response(
        &mut self,
        now: u64,
        connection: ConnectionId,
        status: u16,
        body: &[u8],
    ) {
        if !self.awaiting_auth(connection) {
            return;
        }
        match auth::read_response(status, body) {
            Ok(verified) => {
                if let Some(conn) = self.conns.get_mut(&connection) {
                    conn.last_session = None; // it was another identity's
                    conn.identity = Identity {
                        sender_id: verified.user_id.into(),
                        sender_name: verified.username.map(Into::into),
                        authenticated: true,
                        auth: Some(Arc::new(verified.data)),
                    };
                }
                self.finish_auth(now, connection);
            }
            Err(failure) => self.auth_failed(now, connection, &failure),
        }
    }

    /// The auth service could not be reached (connection refused, DNS, TLS...).
    pub fn handle_auth_unavailable(&mut self, now: u64, connection: ConnectionId) {
        if self.awaiting_auth(connection) {
            let failure = auth::Failure::new(ErrorCode::AuthUnavailable, "service_unavailable");
            self.auth_failed(now, connection, &failure);
        }
    }

    /// The socket is gone. Replies keep running; their frames reach the session's other
    /// connections and its replay buffer. A disconnect is never a cancel.
    pub fn handle_disconnect(
        &mut self,
        _now: u64,
        connection: ConnectionId,
    ) -> Result<(), UsageError> {
        let conn = self
            .conns
            .remove(&connection)
            .ok_or(UsageError::UnknownConnection)?;
        if let Some(at) = conn.idle_timer_at {
            self.timers.cancel(at, Timer::Idle(connection));
        }
        if let ConnState::AwaitingAuth { deadline, .. } = conn.state {
            self.timers.cancel(deadline, Timer::Auth(connection));
        }
        for key in conn.attached {
            if let Some(session) = self.sessions.get_mut(&key) {
                session.attached.retain(|c| *c != connection);
            }
        }
        // Frames still queued for the socket have nowhere to go. (History requests stay until
        // the host answers them: the answer is then dropped.)
        self.transmits.forget(connection);
        Ok(())
    }

    /// A text frame arrived (raw bytes as received: the core checks size and UTF-8).
    pub fn handle_text(
        &mut self,
        now: u64,
        connection: ConnectionId,
        data: &[u8],
    ) -> Result<(), UsageError> {
        let max = self.config.limits.max_frame_bytes;
        let conn = self
            .conns
            .get_mut(&connection)
            .ok_or(UsageError::UnknownConnection)?;
        conn.last_inbound = now;
        match &mut conn.state {
            ConnState::Closing => return Ok(()),
            ConnState::AwaitingAuth { pending, .. } => {
                // Held in order until the identity is known; never run before it.
                let refusal = if data.len() > max {
                    Some((ErrorCode::FrameTooLarge, frame_too_large_text(max)))
                } else if pending.len() >= self.config.limits.max_pending_frames {
                    Some((
                        ErrorCode::TooManyPending,
                        "Too many messages while authentication is pending".to_owned(),
                    ))
                } else {
                    match core::str::from_utf8(data) {
                        Ok(text) => {
                            pending.push_back(text.to_owned());
                            None
                        }
                        Err(_) => Some((
                            ErrorCode::InvalidUtf8,
                            "Frame is not valid UTF-8".to_owned(),
                        )),
                    }
                };
                if let Some((code, text)) = refusal {
                    self.send_error(connection, code, &text, &ErrorExtras::default());
                }
                return Ok(());
            }
            ConnState::Open => {}
        }
        if data.len() > max {
            self.send_error(
                connection,
                ErrorCode::FrameTooLarge,
                &frame_too_large_text(max),
                &ErrorExtras::default(),
            );
            return Ok(());
        }
        match core::str::from_utf8(data) {
            Ok(text) => self.process_frame(now, connection, text),
            Err(_) => self.send_error(
                connection,
                ErrorCode::InvalidUtf8,
                "Frame is not valid UTF-8",
                &ErrorExtras::default(),
            ),
        }
        Ok(())
    }

    /// A binary frame arrived: refused with `binary_frame`, the connection stays usable.
    pub fn handle_binary(
        &mut self,
        now: u64,
        connection: ConnectionId,
        _data: &[u8],
    ) -> Result<(), UsageError> {
        let conn = self
            .conns
            .get_mut(&connection)
            .ok_or(UsageError::UnknownConnection)?;
        conn.last_inbound = now;
        if matches!(conn.state, ConnState::Closing) {
            return Ok(());
        }
        self.send_error(
            connection,
            ErrorCode::BinaryFrame,
            "Binary frames are not supported; send JSON text",
            &ErrorExtras::default(),
        );
        Ok(())
    }

    /// Runs every deadline due at `now`: auth timeouts, idle and heartbeat closes, turn
    /// keepalives and agent timeouts.
    pub fn handle_timeout(&mut self, now: u64) {
        while let Some((_, timer)) = self.timers.pop_due(now, timer_is_live(&self.turns)) {
            match timer {
                Timer::Auth(id) => {
                    let expired = matches!(
                        self.conns.get(&id).map(|c| &c.state),
                        Some(ConnState::AwaitingAuth { deadline, .. }) if *deadline <= now
                    );
                    if expired {
                        self.auth_failed(
                            now,
                            id,
                            &auth::Failure::new(ErrorCode::AuthTimeout, "timeout"),
                        );
                    }
                }
                Timer::Idle(id) => self.check_idle(now, id),
                Timer::Turn(id) => self.check_turn(now, id),
            }
        }
    }

    /// Stops everything for a shutdown: every running or queued reply ends with a cancelled
    /// final frame (and a `CancelTurn` for running ones), every connection is closed with 1001.
    pub fn handle_shutdown(&mut self, now: u64) {
        // Queued turns first, so that ending a running one does not start the next.
        let mut turns: Vec<(bool, TurnId)> =
            self.turns.iter().map(|(id, t)| (t.running, id)).collect();
        turns.sort();
        for (_, turn) in turns {
            self.cancel_turn(now, turn, CancelReason::Shutdown);
        }
        let ids: Vec<ConnectionId> = self.conns.keys().collect();
        for id in ids {
            if !matches!(self.conns[&id].state, ConnState::Closing) {
                self.close(id, CLOSE_GOING_AWAY, "Server shutting down");
            }
        }
    }

    // ----- agent output --------------------------------------------------------------------

    /// The agent produced more text for `turn` (only the new part). Output for a turn that
    /// was cancelled or already finished is ignored.
    pub fn handle_agent_delta(
        &mut self,
        now: u64,
        turn: TurnId,
        delta: &str,
    ) -> Result<(), UsageError> {
        self.append_output(now, turn, delta, false)
    }

    /// The agent's whole text so far replaces what it sent before (agents that stream
    /// cumulative text, such as an OpenClaw gateway). Only the new suffix is streamed when
    /// the text extends the previous one.
    pub fn handle_agent_text(
        &mut self,
        now: u64,
        turn: TurnId,
        text: &str,
    ) -> Result<(), UsageError> {
        let Some(state) = self.running_turn(turn)? else {
            return Ok(());
        };
        match text.strip_prefix(state.text.as_str()) {
            Some(suffix) => {
                let suffix = suffix.to_owned();
                self.append_output(now, turn, &suffix, false)
            }
            // A rewrite (the agent revised its text): stream the whole text as a replacement.
            None => self.append_output(now, turn, text, true),
        }
    }

    fn append_output(
        &mut self,
        now: u64,
        turn: TurnId,
        delta: &str,
        replace: bool,
    ) -> Result<(), UsageError> {
        if turn.0 == 0 || turn.0 > self.next_turn {
            return Err(UsageError::UnknownTurn);
        }
        let Some(state) = self.turns.get_mut(&turn).filter(|t| t.running) else {
            return Ok(());
        };
        state.last_output = now;
        if delta.is_empty() && !replace {
            return Ok(());
        }
        if replace {
            state.text.clear();
        }
        let start = state.text.len();
        state.text.push_str(delta);
        let frame = SessionFrame::Stream {
            message_id: state.message_id(),
            start,
            delta,
            replace,
        };
        let Some(session) = self.sessions.at_mut(state.session) else {
            return Ok(());
        };
        emit_frame(
            session,
            &mut self.conns,
            &mut self.transmits,
            &self.config.limits,
            state.session_key(),
            Origin::Connection(state.origin()),
            frame,
            Some(&state.text),
        );
        Ok(())
    }

    /// The agent finished. `text` is the final reply; `None` uses the streamed text.
    pub fn handle_agent_final(
        &mut self,
        now: u64,
        turn: TurnId,
        text: Option<&str>,
    ) -> Result<(), UsageError> {
        self.end_reply(now, turn, text, Outcome::Completed)
    }

    /// The agent failed; the client gets `chat.error` with code `agent_error` and this text.
    pub fn handle_agent_error(
        &mut self,
        now: u64,
        turn: TurnId,
        message: &str,
    ) -> Result<(), UsageError> {
        self.handle_agent_failure(now, turn, AgentFailure::Failed, message)
    }

    /// The agent failed in a way the client can act on: the `chat.error` carries the failure's
    /// own code (`agent_error`, `agent_timeout` or `rate_limited`) and this text.
    pub fn handle_agent_failure(
        &mut self,
        now: u64,
        turn: TurnId,
        failure: AgentFailure,
        message: &str,
    ) -> Result<(), UsageError> {
        if self.running_turn(turn)?.is_none() {
            return Ok(());
        }
        let text = if message.is_empty() {
            "Agent failed"
        } else {
            message
        };
        self.finish_turn(now, turn, Outcome::Failed, Some((failure.code(), text)));
        Ok(())
    }

    /// The agent's run was stopped on its side (not by this core: an operator or another client
    /// of the agent aborted it). The reply ends like a cancelled one: the text streamed so far,
    /// or `text` when given, in a final `chat.response` with `cancelled: true`.
    pub fn handle_agent_cancelled(
        &mut self,
        now: u64,
        turn: TurnId,
        text: Option<&str>,
    ) -> Result<(), UsageError> {
        self.end_reply(now, turn, text, Outcome::Cancelled)
    }

    /// Ends a running turn with a reply: `text`, or what was streamed when `None`.
    fn end_reply(
        &mut self,
        now: u64,
        turn: TurnId,
        text: Option<&str>,
        outcome: Outcome,
    ) -> Result<(), UsageError> {
        let Some(state) = self.running_turn(turn)? else {
            return Ok(());
        };
        if let Some(text) = text {
            state.text.clear();
            state.text.push_str(text);
        }
        self.finish_turn(now, turn, outcome, None);
        Ok(())
    }

    // ----- host answers --------------------------------------------------------------------

    /// The host's answer to `FetchHistory`: a page, or an error text for the client.
    pub fn handle_history(
        &mut self,
        _now: u64,
        request: u64,
        page: Result<HistoryPage, &str>,
    ) -> Result<(), UsageError> {
        let req = self
            .history_requests
            .remove(&request)
            .ok_or(UsageError::UnknownRequest)?;
        if !self.conns.contains_key(&req.connection) {
            return Ok(());
        }
        match page {
            Ok(page) => {
                let mut messages = String::from("[");
                for (i, m) in page.messages.iter().enumerate() {
                    if i > 0 {
                        messages.push(',');
                    }
                    messages.push_str(
                        &ObjectWriter::object(64 + m.content.len())
                            .str("messageId", &m.message_id)
                            .str("role", &m.role)
                            .opt_str("senderId", m.sender_id.as_deref())
                            .opt_str("senderName", m.sender_name.as_deref())
                            .str("content", &m.content)
                            .u64("at", m.at)
                            .finish(),
                    );
                }
                messages.push(']');
                let frame = ObjectWriter::frame("chat.history", messages.len() + 64)
                    .opt_str("id", req.client_id.as_deref())
                    .str("sessionKey", &req.session_key)
                    .raw("messages", &messages)
                    .opt_str("nextCursor", page.next_cursor.as_deref())
                    .finish();
                self.send_text(req.connection, frame);
            }
            Err(reason) => {
                let text = format!("History unavailable: {reason}");
                self.send_error(
                    req.connection,
                    ErrorCode::HistoryUnavailable,
                    &text,
                    &ErrorExtras::default(),
                );
            }
        }
        Ok(())
    }

    /// An operator approved a pairing code; returns the sender it admits.
    pub fn approve_pairing(&mut self, _now: u64, code: &str) -> Result<String, UsageError> {
        let sender = self
            .pairing
            .approve(code)
            .ok_or(UsageError::UnknownPairingCode)?;
        self.events.push_back(Event::PairingApproved {
            code: code.trim().to_ascii_uppercase(),
            sender_id: sender.clone(),
        });
        Ok(sender)
    }

    /// Admits a sender under `dmPolicy: pairing` (restoring approvals the host persisted).
    pub fn allow_sender(&mut self, sender_id: &str) {
        self.pairing.approved.insert(sender_id.to_owned());
    }

    /// Records a dynamic agent the host already provisioned (restoring after a restart), so
    /// it is not provisioned again and counts toward `maxAgents`.
    pub fn restore_dynamic_agent(&mut self, agent_id: &str) {
        self.dynamic_agents.insert(agent_id.to_owned());
    }

    /// Exports every session's sequence counter and replay buffer as JSON, for the host to
    /// persist and [`Server::restore_sessions`] after a restart.
    pub fn export_sessions(&self) -> String {
        let sessions: Vec<Value> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.next_seq > 1)
            .map(|(k, s)| s.export(k))
            .collect();
        serde_json::to_string(&serde_json::json!({"version": 1, "sessions": sessions}))
            .unwrap_or_default()
    }

    /// Restores sessions exported by [`Server::export_sessions`]. Call before accepting
    /// connections; existing sessions with the same key are replaced.
    pub fn restore_sessions(&mut self, now: u64, exported: &str) -> Result<(), UsageError> {
        let value: Value = serde_json::from_str(exported).map_err(|_| UsageError::InvalidState)?;
        if value.get("version").and_then(Value::as_u64) != Some(1) {
            return Err(UsageError::InvalidState);
        }
        let list = value
            .get("sessions")
            .and_then(Value::as_array)
            .ok_or(UsageError::InvalidState)?;
        let limits = &self.config.limits;
        let mut restored = Vec::with_capacity(list.len());
        for item in list {
            restored.push(
                Session::import(item, now, limits.replay_frames, limits.replay_bytes)
                    .ok_or(UsageError::InvalidState)?,
            );
        }
        for (key, session) in restored {
            self.sessions.insert(&key, session);
        }
        Ok(())
    }

    // ----- internals: connection state -----------------------------------------------------

    fn awaiting_auth(&self, id: ConnectionId) -> bool {
        matches!(
            self.conns.get(&id).map(|c| &c.state),
            Some(ConnState::AwaitingAuth { .. })
        )
    }

    fn auth_failed(&mut self, now: u64, id: ConnectionId, failure: &auth::Failure) {
        if self.config.auth.required {
            let text = format!("Authentication failed: {}", failure.reason);
            self.send_error(id, failure.code, &text, &ErrorExtras::default());
            self.close(id, CLOSE_AUTH, "Authentication failed");
        } else {
            // Not required: continue anonymously with the URL identity.
            self.finish_auth(now, id);
        }
    }

    fn finish_auth(&mut self, now: u64, id: ConnectionId) {
        let pending = match self.conns.get_mut(&id) {
            Some(conn) => match core::mem::replace(&mut conn.state, ConnState::Open) {
                ConnState::AwaitingAuth { deadline, pending } => {
                    self.timers.cancel(deadline, Timer::Auth(id));
                    pending
                }
                other => {
                    conn.state = other;
                    return;
                }
            },
            None => return,
        };
        self.accept(now, id);
        for frame in pending {
            if !matches!(self.conns.get(&id).map(|c| &c.state), Some(ConnState::Open)) {
                break;
            }
            self.process_frame(now, id, &frame);
        }
    }

    /// The connection is admitted: ready frame, optional greeting, attachment, idle timer.
    fn accept(&mut self, now: u64, id: ConnectionId) {
        self.send_ready(id);
        if self.config.greeting {
            self.send_text(id, outbound::greeting());
        }
        self.attach_own_session(now, id);
        self.schedule_idle(id);
    }

    fn schedule_idle(&mut self, id: ConnectionId) {
        let at = self.idle_deadline(id);
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.idle_timer_at = at;
            if let Some(at) = at {
                self.timers.schedule(at, Timer::Idle(id));
            }
        }
    }

    /// Authenticated v2 connections follow their direct session from the start (their other
    /// devices see the same conversation). Claimed identities attach only by sending or
    /// resuming, so a claim alone never shows someone else's replies.
    fn attach_own_session(&mut self, now: u64, id: ConnectionId) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if conn.protocol >= 2 && conn.identity.authenticated {
            let key = self.direct_key_for(&conn.identity.sender_id.clone());
            self.attach(now, id, &key);
        }
    }

    fn send_ready(&mut self, id: ConnectionId) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let session_key = self.direct_key_for(&conn.identity.sender_id);
        let c = &self.config;
        let limits = ObjectWriter::object(160)
            .u64("maxFrameBytes", c.limits.max_frame_bytes as u64)
            .u64("maxContentChars", c.limits.max_content_chars as u64)
            .u64("textChunkLimit", c.text_chunk_limit as u64)
            .u64("messagesPerMinute", u64::from(c.limits.messages_per_minute))
            .u64("messageBurst", u64::from(c.limits.message_burst))
            .u64("maxQueuedTurns", c.limits.max_queued_turns as u64)
            .finish();
        let stream = match conn.stream_mode {
            StreamMode::Cumulative => "cumulative",
            StreamMode::Delta => "delta",
        };
        let frame = ObjectWriter::frame("chat.ready", 512)
            .u64("protocol", u64::from(conn.protocol))
            .raw("protocols", "[1,2]")
            .str("connectionId", &id.to_string())
            .str("senderId", &conn.identity.sender_id)
            .opt_str("senderName", conn.identity.sender_name.as_deref())
            .bool("authenticated", conn.identity.authenticated)
            .str("sessionKey", &session_key)
            .str("stream", stream)
            .str("busyPolicy", c.busy_policy.as_str())
            .u64("heartbeatMs", c.timing.heartbeat_ms)
            .raw("limits", &limits)
            .str_array(
                "capabilities",
                ["ack", "cancel", "delta", "history", "ping", "resume"],
            )
            .finish();
        self.send_text(id, frame);
    }

    fn idle_deadline(&self, id: ConnectionId) -> Option<u64> {
        let conn = self.conns.get(&id)?;
        let t = &self.config.timing;
        if conn.protocol >= 2 && t.heartbeat_ms > 0 {
            // v2 clients promise a ping per heartbeat interval; two missed ones mean the peer is gone.
            Some(conn.last_inbound + 2 * t.heartbeat_ms)
        } else if t.idle_timeout_ms > 0 {
            Some(conn.last_inbound.max(conn.last_outbound) + t.idle_timeout_ms)
        } else {
            None
        }
    }

    fn check_idle(&mut self, now: u64, id: ConnectionId) {
        match self.conns.get_mut(&id) {
            Some(conn) if matches!(conn.state, ConnState::Open) => conn.idle_timer_at = None,
            _ => return,
        }
        match self.idle_deadline(id) {
            Some(at) if at <= now => {
                let v2 = self.conns[&id].protocol >= 2 && self.config.timing.heartbeat_ms > 0;
                self.close(
                    id,
                    CLOSE_TIMEOUT,
                    if v2 {
                        "Heartbeat timeout"
                    } else {
                        "Idle timeout"
                    },
                );
            }
            Some(_) => self.schedule_idle(id),
            None => {}
        }
    }

    fn close(&mut self, id: ConnectionId, code: u16, reason: &str) {
        if let Some(conn) = self.conns.get_mut(&id) {
            if let Some(at) = conn.idle_timer_at.take() {
                self.timers.cancel(at, Timer::Idle(id));
            }
            if let ConnState::AwaitingAuth { deadline, .. } = conn.state {
                self.timers.cancel(deadline, Timer::Auth(id));
            }
            conn.state = ConnState::Closing;
            self.transmits.push_close(id, code, reason);
        }
    }

    fn send_text(&mut self, id: ConnectionId, text: String) {
        self.send_with(id, |out| out.push_str(&text));
    }

    /// Queues the frame `write` appends for connection `id`.
    fn send_with(&mut self, id: ConnectionId, write: impl FnOnce(&mut String)) {
        // Nothing follows a close.
        if let Some(conn) = self
            .conns
            .get_mut(&id)
            .filter(|c| !matches!(c.state, ConnState::Closing))
        {
            conn.last_outbound = conn.last_outbound.max(conn.last_inbound);
            self.transmits.push_text(id, write);
        }
    }

    fn send_error(
        &mut self,
        id: ConnectionId,
        code: ErrorCode,
        text: &str,
        extras: &ErrorExtras<'_>,
    ) {
        self.send_text(id, outbound::error(code, text, extras));
    }

    fn attach(&mut self, now: u64, id: ConnectionId, key: &str) -> bool {
        let max = self.config.limits.max_session_connections;
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        if conn.attached.iter().any(|k| k == key) {
            return true;
        }
        let at = self.sessions.get_or_insert_with(key, || Session::new(now));
        let Some(session) = self.sessions.at_mut(at) else {
            return false;
        };
        if session.attached.len() >= max {
            return false;
        }
        session.attached.push(id);
        session.followed = true;
        conn.attached.push(key.to_owned());
        true
    }

    // ----- internals: frames ---------------------------------------------------------------

    fn process_frame(&mut self, now: u64, id: ConnectionId, text: &str) {
        let mut frame = RawFrame::default();
        match inbound::parse_into(text, &mut frame) {
            Ok(()) => {}
            Err(_) => {
                self.send_error(
                    id,
                    ErrorCode::InvalidJson,
                    "Failed to parse message",
                    &ErrorExtras::default(),
                );
                return;
            }
        };
        let kind = match frame.str(Key::Type) {
            Ok(Some(kind)) if frame.is_object => kind,
            _ => "",
        };
        match kind {
            "chat.send" => self.on_send(now, id, &frame),
            "chat.cancel" => self.on_cancel(now, id, &frame),
            "chat.resume" => self.on_resume(now, id, &frame),
            "chat.history" => self.on_history(id, &frame),
            "chat.hello" => self.on_hello(now, id, &frame),
            "ping" => self.on_ping(id, &frame),
            _ => {
                let message_id = frame.nonempty_str(Key::MessageId).ok().flatten();
                self.send_error(
                    id,
                    ErrorCode::UnknownType,
                    INVALID_FORMAT,
                    &ErrorExtras {
                        message_id,
                        ..Default::default()
                    },
                );
            }
        }
    }

    fn field_error(&mut self, id: ConnectionId, err: FieldError, message_id: Option<&str>) {
        let text = format!("Invalid field: {} must be {}", err.field, err.expected);
        self.send_error(
            id,
            ErrorCode::InvalidField,
            &text,
            &ErrorExtras {
                message_id,
                ..Default::default()
            },
        );
    }

    fn on_send(&mut self, now: u64, id: ConnectionId, f: &RawFrame<'_>) {
        let mut fields = SendFrame::default();
        match send::read(f, self.config.limits.max_content_chars, &mut fields) {
            Ok(()) => {}
            Err(Refusal::Field(err, mid)) => return self.field_error(id, err, mid),
            Err(Refusal::Other(code, text, mid)) => {
                let extras = ErrorExtras {
                    message_id: mid,
                    ..Default::default()
                };
                return self.send_error(id, code, &text, &extras);
            }
        };
        let SendFrame {
            message_id: mid,
            content,
            chat_type,
            media,
            custom_data,
            ..
        } = fields;
        let refuse = |server: &mut Server, code: ErrorCode, text: &str| {
            server.send_error(
                id,
                code,
                text,
                &ErrorExtras {
                    message_id: mid,
                    ..Default::default()
                },
            );
        };

        // Identity: the authenticated one always wins; unauthenticated connections keep the
        // seed's per-frame senderId/senderName.
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let identity = &conn.identity;
        if identity.authenticated && fields.sender_id.is_some_and(|s| s != &*identity.sender_id) {
            let text = "senderId does not match the authenticated identity";
            return refuse(self, ErrorCode::IdentityMismatch, text);
        }
        let claimed = fields
            .sender_id
            .filter(|s| !identity.authenticated && *s != &*identity.sender_id);
        // Borrowed from the connection until the turn's buffer is written: the checks below
        // touch only other parts of the server.
        let (sender_id, sender_name): (&str, Option<&str>) = match claimed {
            Some(s) => (s, fields.sender_name),
            None if identity.authenticated => {
                (&identity.sender_id, identity.sender_name.as_deref())
            }
            None => (
                &identity.sender_id,
                fields.sender_name.or(identity.sender_name.as_deref()),
            ),
        };
        let authenticated = identity.authenticated;
        let auth_data = identity.auth.clone();
        let protocol = conn.protocol;
        let last_session = conn.last_session;

        // Rate: per authenticated identity, or per connection when the identity is only claimed.
        let limits = &self.config.limits;
        let rate = match limits.messages_per_minute {
            0 => Ok(()), // no limit configured: nothing to look up
            per_minute => self.buckets.take(
                now,
                per_minute,
                limits.message_burst,
                id.0,
                authenticated.then_some(sender_id),
                self.conns.len(),
            ),
        };
        if let Err(retry_after) = rate {
            let text = format!("Rate limit exceeded; retry in {retry_after} ms");
            self.send_error(
                id,
                ErrorCode::RateLimited,
                &text,
                &ErrorExtras {
                    message_id: mid,
                    retry_after_ms: Some(retry_after),
                    ..Default::default()
                },
            );
            return;
        }

        if chat_type == ChatType::Direct {
            let policy = dm_policy_admits(
                &self.config,
                &mut self.pairing,
                &mut self.events,
                sender_id,
                sender_name,
            );
            if let Err((code, text, pairing_code)) = policy {
                self.send_error(
                    id,
                    code,
                    &text,
                    &ErrorExtras {
                        message_id: mid,
                        pairing_code: pairing_code.as_deref(),
                        ..Default::default()
                    },
                );
                return;
            }
        }

        // The turn's text, in one buffer; the message id follows once the message is accepted.
        let mut text = TurnText::new(core::mem::take(&mut self.turn_text));
        let (agent_id, provision) = match chat_type {
            ChatType::Group => (Cow::Borrowed(self.config.agent_id.as_str()), false),
            ChatType::Direct => self.agent_for(sender_id),
        };
        // The connection's own direct session has the same key every time (its identity and,
        // without dynamic agents, its agent are fixed): reuse the key of the last message.
        let own_direct = chat_type == ChatType::Direct
            && claimed.is_none()
            && !self.config.dynamic_agents.enabled;
        let own_session = match last_session {
            Some((at, true)) if own_direct => self.sessions.key(at).map(|key| (at, key)),
            _ => None,
        };
        text.push(TextField::AgentId, &agent_id);
        text.push_with(TextField::SessionKey, |out| {
            match (own_session, fields.group_id) {
                (Some((_, key)), _) => out.push_str(key),
                (None, Some(group)) if chat_type == ChatType::Group => {
                    identity::push_group_session_key(out, &agent_id, group)
                }
                (None, _) => identity::push_direct_session_key(out, &agent_id, sender_id),
            }
        });
        let own_session = own_session.map(|(at, _)| at);
        text.push(TextField::SenderId, sender_id);
        text.push_opt(TextField::SenderName, sender_name);
        text.push_opt(TextField::GroupId, fields.group_id);
        text.push_opt(TextField::GroupSubject, fields.group_subject);
        text.push_opt(TextField::ReplyToId, fields.reply_to_id);
        text.push_opt(TextField::ReplyToBody, fields.reply_to_body);
        text.push_with(TextField::BodyPrefix, |out| {
            push_envelope_prefix(out, sender_name.unwrap_or(sender_id), fields.reply_to_body)
        });
        text.push(TextField::Content, content);
        let provision = provision.then(|| AgentProvision {
            agent_id: agent_id.clone().into_owned(),
            user_id: sender_id.to_owned(),
            user_name: sender_name.map(str::to_owned),
            auth: auth_data.as_deref().cloned(),
        });
        drop(agent_id);
        let session_key = text.get(TextField::SessionKey).unwrap_or_default();

        // Idempotent sends (v2): a repeated client message id is acknowledged, not run again.
        if protocol >= 2 {
            if let (Some(m), Some(session)) = (mid, self.sessions.get(session_key)) {
                if let Some(ack_seq) = session.recent.get(m) {
                    let frame = ObjectWriter::frame("chat.ack", 64 + m.len())
                        .str("messageId", m)
                        .str(
                            "senderId",
                            text.get(TextField::SenderId).unwrap_or_default(),
                        )
                        .bool("duplicate", true)
                        .seq(Some((ack_seq, session_key)))
                        .finish();
                    self.send_text(id, frame);
                    return;
                }
            }
        }

        // The session, if it exists: usually the one of this connection's last message.
        let found = own_session
            .or_else(|| {
                last_session
                    .map(|(at, _)| at)
                    .filter(|&at| self.sessions.key(at) == Some(session_key))
            })
            .or_else(|| self.sessions.find(session_key));
        // Busy policy.
        let (busy, queued) = match found.and_then(|at| self.sessions.at(at)) {
            Some(s) => (s.running.is_some() || !s.queue.is_empty(), s.queue.len()),
            None => (false, 0),
        };
        if busy {
            let refusal = match self.config.busy_policy {
                BusyPolicy::Reject => Some("The agent is still replying in this session"),
                BusyPolicy::Queue if queued >= self.config.limits.max_queued_turns => {
                    Some("Too many messages are waiting in this session")
                }
                _ => None,
            };
            if let Some(refusal) = refusal {
                return refuse(self, ErrorCode::Busy, refusal);
            }
            if self.config.busy_policy == BusyPolicy::Interrupt {
                let doomed: Vec<TurnId> = self.sessions[session_key]
                    .running
                    .iter()
                    .chain(self.sessions[session_key].queue.iter())
                    .copied()
                    .collect();
                for turn in doomed {
                    self.cancel_turn(now, turn, CancelReason::Interrupted);
                }
            }
        }

        match mid {
            Some(m) => text.push(TextField::MessageId, m),
            None => {
                self.next_message += 1;
                let n = self.next_message;
                text.push_with(TextField::MessageId, |out| {
                    out.push_str("msg-");
                    outbound::push_u64(out, n);
                });
            }
        }
        if let Some(p) = &provision {
            self.dynamic_agents.insert(p.agent_id.clone());
        }
        self.next_turn += 1;
        let turn_id = TurnId(self.next_turn);
        let (turn, buffer) = Turn::new(
            text,
            TurnParts {
                id: turn_id,
                chat_type,
                authenticated,
                connection: id,
                received_at: now,
                media,
                custom_data,
                auth: auth_data,
            },
        );
        self.turn_text = buffer;
        let session_key = turn.session_key();

        if protocol >= 2 {
            self.attach(now, id, session_key);
        }
        // (Interrupting may have ended turns, never sessions: `found` still holds.)
        let at = match found {
            Some(at) => at,
            None => self
                .sessions
                .get_or_insert_with(session_key, || Session::new(now)),
        };
        if last_session != Some((at, own_direct)) {
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.last_session = Some((at, own_direct));
            }
        }
        // One lookup serves the ack, the typing frame, the queue decision and the start.
        let Some(session) = self.sessions.at_mut(at) else {
            return;
        };
        session.last_active = now;
        let (conns, transmits, limits) =
            (&mut self.conns, &mut self.transmits, &self.config.limits);
        let message_id = turn.message_id();
        let ack_seq = if session.is_unwatched() {
            // No v2 connection follows or ever followed the session (every seed client's):
            // nobody can receive or replay the ack, which only takes its seq.
            session.skip_seq()
        } else {
            let ack = SessionFrame::Ack {
                message_id,
                sender_id: turn.sender_id(),
            };
            let origin = Origin::None;
            emit_frame(
                session,
                conns,
                transmits,
                limits,
                session_key,
                origin,
                ack,
                None,
            )
        };
        if let Some(m) = mid {
            session.recent.insert(m, ack_seq);
        }
        let typing = SessionFrame::Typing { message_id };
        let origin = Origin::Connection(id);
        emit_frame(
            session,
            conns,
            transmits,
            limits,
            session_key,
            origin,
            typing,
            None,
        );
        // Run now if the session is free, else wait behind the turns before it.
        let start_now = session.running.is_none() && session.queue.is_empty();
        if start_now {
            session.running = Some(turn_id);
        } else {
            session.queue.push_back(turn_id);
        }
        if let Some(provision) = provision {
            self.events
                .push_back(Event::ProvisionAgent(Box::new(provision)));
        }
        let run = start_now.then(|| turn.clone());
        // What start_turn does, without looking the session or the turn up again; the state
        // is then built in its place in the table.
        let timer_at = if start_now {
            running_turn_deadline(&self.config.timing, now, now)
        } else {
            None
        };
        if let Some(at) = timer_at {
            self.timers.schedule(at, Timer::Turn(turn_id));
        }
        self.turns.insert_with(turn_id, || TurnState {
            turn,
            session: at,
            pending_run: !start_now,
            running: start_now,
            text: String::new(),
            last_output: now,
            last_keepalive: now,
            timer_at,
        });
        if let Some(run) = run {
            self.events.push_back(Event::RunTurn(run));
        }
        self.evict_idle_sessions();
    }

    /// The agent for a direct sender, and whether it must be provisioned first.
    #[inline]
    fn agent_for(&self, sender_id: &str) -> (Cow<'_, str>, bool) {
        if !self.config.dynamic_agents.enabled {
            return (Cow::Borrowed(self.config.agent_id.as_str()), false);
        }
        self.dynamic_agent_for(sender_id)
    }

    fn dynamic_agent_for(&self, sender_id: &str) -> (Cow<'_, str>, bool) {
        let dynamic = &self.config.dynamic_agents;
        let configured = Cow::Borrowed(self.config.agent_id.as_str());
        let agent = identity::dynamic_agent_id(sender_id);
        if self.dynamic_agents.contains(&agent) {
            return (Cow::Owned(agent), false);
        }
        match dynamic.max_agents {
            Some(max) if self.dynamic_agents.len() >= max as usize => (configured, false),
            _ => (Cow::Owned(agent), true),
        }
    }

    fn direct_key_for(&self, sender_id: &str) -> String {
        identity::direct_session_key(&self.agent_for(sender_id).0, sender_id)
    }

    fn may_access(&self, id: ConnectionId, key: &str) -> bool {
        let Some(conn) = self.conns.get(&id) else {
            return false;
        };
        conn.attached.iter().any(|k| k == key)
            || key == self.direct_key_for(&conn.identity.sender_id)
            || key.split(':').nth(3) == Some("group")
    }

    fn on_cancel(&mut self, now: u64, id: ConnectionId, f: &RawFrame<'_>) {
        let (message_id, key) = match (f.nonempty_str(Key::MessageId), f.nonempty_str(Key::Session))
        {
            (Ok(m), Ok(k)) => (m, k),
            (Err(err), _) | (_, Err(err)) => return self.field_error(id, err, None),
        };
        let target = match message_id {
            Some(m) => self
                .turns
                .iter()
                .filter(|(_, t)| {
                    t.message_id() == m
                        && (t.origin() == id || self.may_access(id, t.session_key()))
                })
                .map(|(turn, t)| (turn, t.running))
                .max_by_key(|(_, running)| *running)
                .map(|(turn, _)| turn),
            None => {
                let key = match key {
                    Some(k) => k.to_owned(),
                    None => match self.conns.get(&id) {
                        Some(conn) => self.direct_key_for(&conn.identity.sender_id.clone()),
                        None => return,
                    },
                };
                if self.may_access(id, &key) {
                    self.sessions.get(&key).and_then(|s| s.running)
                } else {
                    None
                }
            }
        };
        match target {
            Some(turn) => self.cancel_turn(now, turn, CancelReason::Requested),
            None => self.send_error(
                id,
                ErrorCode::NotFound,
                "No running or queued reply matches this cancel",
                &ErrorExtras {
                    message_id,
                    ..Default::default()
                },
            ),
        }
    }

    fn on_resume(&mut self, now: u64, id: ConnectionId, f: &RawFrame<'_>) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if conn.protocol < 2 {
            return self.send_error(
                id,
                ErrorCode::UnsupportedVersion,
                "chat.resume needs protocol 2: connect with ?protocol=2 or send chat.hello first",
                &ErrorExtras::default(),
            );
        }
        let mode = conn.stream_mode;
        let own_key = self.direct_key_for(&conn.identity.sender_id.clone());
        let (key, last_seq) = match (f.nonempty_str(Key::Session), f.u64(Key::LastSeq)) {
            (Ok(k), Ok(s)) => (k.map_or(own_key, str::to_owned), s.unwrap_or(0)),
            (Err(err), _) | (_, Err(err)) => return self.field_error(id, err, None),
        };
        if !self.may_access(id, &key) {
            return self.send_error(
                id,
                ErrorCode::NotAllowed,
                "This connection may not follow that session",
                &ErrorExtras::default(),
            );
        }
        if !self.attach(now, id, &key) {
            return self.send_error(
                id,
                ErrorCode::Busy,
                "Too many connections follow this session",
                &ErrorExtras::default(),
            );
        }
        let session = &self.sessions[key.as_str()];
        let latest = session.next_seq - 1;
        let mut frames = Vec::new();
        let gap = match session.since(last_seq) {
            Ok(entries) => {
                // Texts of replies whose stream frames are replayed in cumulative mode.
                let mut texts: Vec<(String, String)> = Vec::new();
                for (seq, frame) in entries {
                    let frame = frame.as_live();
                    let reply = match (&frame, mode) {
                        (SessionFrame::Stream { message_id, .. }, StreamMode::Cumulative) => {
                            let message_id = *message_id;
                            if !texts.iter().any(|(m, _)| m == message_id) {
                                let text = self
                                    .turns
                                    .values()
                                    .find(|t| {
                                        t.running
                                            && t.message_id() == message_id
                                            && t.session_key() == key
                                    })
                                    .map(|t| t.text.clone())
                                    .or_else(|| session.reply_text(message_id))
                                    .unwrap_or_default();
                                texts.push((message_id.to_string(), text));
                            }
                            texts
                                .iter()
                                .find(|(m, _)| m == message_id)
                                .map(|(_, t)| t.as_str())
                        }
                        _ => None,
                    };
                    frames.push(frame.render(Some((*seq, &key)), mode, reply));
                }
                None
            }
            Err(gap) => {
                let mut extras_text = format!(
                    "Cannot resume after seq {last_seq}: the oldest frame kept is {}",
                    gap.oldest
                );
                if last_seq > latest {
                    extras_text = format!(
                        "Cannot resume after seq {last_seq}: the session is at seq {latest}"
                    );
                }
                frames.push(outbound::error(
                    ErrorCode::ResumeGap,
                    &extras_text,
                    &ErrorExtras::default(),
                ));
                // The current state of the unfinished reply, so the client can carry on.
                if let Some(turn) = session.running.and_then(|t| self.turns.get(&t)) {
                    frames.push(
                        ObjectWriter::frame("chat.stream", 64 + turn.text.len())
                            .str("messageId", turn.message_id())
                            .str("content", &turn.text)
                            .bool("done", false)
                            .bool("snapshot", true)
                            .seq(Some((latest, &key)))
                            .finish(),
                    );
                }
                Some(gap)
            }
        };
        let replayed = if gap.is_some() {
            0
        } else {
            frames.len() as u64
        };
        frames.push(
            ObjectWriter::frame("chat.resumed", 96 + key.len())
                .str("sessionKey", &key)
                .u64("lastSeq", last_seq)
                .u64("seq", latest)
                .u64("replayed", replayed)
                .bool("gap", gap.is_some())
                .finish(),
        );
        for frame in frames {
            self.send_text(id, frame);
        }
    }

    fn on_history(&mut self, id: ConnectionId, f: &RawFrame<'_>) {
        let parsed = (|| {
            Ok::<_, FieldError>((
                f.nonempty_str(Key::Session)?,
                f.u64(Key::Limit)?,
                f.nonempty_str(Key::Cursor)?,
                f.nonempty_str(Key::Id)?,
            ))
        })();
        let (key, limit, cursor, client_id) = match parsed {
            Ok(v) => v,
            Err(err) => return self.field_error(id, err, None),
        };
        let limit = limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
        if limit == 0 || limit > MAX_HISTORY_LIMIT {
            let err = FieldError {
                field: "limit",
                expected: "from 1 to 200",
            };
            return self.field_error(id, err, None);
        }
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let key = match key {
            Some(k) => k.to_owned(),
            None => self.direct_key_for(&conn.identity.sender_id.clone()),
        };
        if !self.may_access(id, &key) {
            return self.send_error(
                id,
                ErrorCode::NotAllowed,
                "This connection may not read that session",
                &ErrorExtras::default(),
            );
        }
        self.next_request += 1;
        let request = self.next_request;
        self.history_requests.insert(
            request,
            HistoryRequest {
                connection: id,
                session_key: key.clone(),
                client_id: client_id.map(str::to_owned),
            },
        );
        self.events.push_back(Event::FetchHistory {
            request,
            session_key: key,
            limit: limit as u32,
            cursor: cursor.map(str::to_owned),
        });
    }

    fn on_hello(&mut self, now: u64, id: ConnectionId, f: &RawFrame<'_>) {
        let (protocol, stream) = match (f.u64(Key::Protocol), f.str(Key::Stream)) {
            (Ok(p), Ok(s)) => (p.unwrap_or(u64::from(PROTOCOL_VERSION)), s),
            (Err(err), _) | (_, Err(err)) => return self.field_error(id, err, None),
        };
        if protocol == 0 || protocol > u64::from(PROTOCOL_VERSION) {
            let text = format!("Protocol {protocol} is not supported; this server speaks 1 and 2");
            return self.send_error(
                id,
                ErrorCode::UnsupportedVersion,
                &text,
                &ErrorExtras::default(),
            );
        }
        let mode = match stream {
            None => None,
            Some("delta") => Some(StreamMode::Delta),
            Some("cumulative") => Some(StreamMode::Cumulative),
            Some(_) => {
                let err = FieldError {
                    field: "stream",
                    expected: "\"delta\" or \"cumulative\"",
                };
                return self.field_error(id, err, None);
            }
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.protocol = protocol as u8;
        if let Some(mode) = mode {
            conn.stream_mode = mode;
        }
        self.send_ready(id);
        self.attach_own_session(now, id);
    }

    fn on_ping(&mut self, id: ConnectionId, f: &RawFrame<'_>) {
        let mut w = ObjectWriter::frame("pong", 32);
        match f.get(Key::Id) {
            Some(Field::Str(s)) => w = w.str("id", s),
            Some(Field::Other(Loose::Str(s))) => w = w.str("id", s),
            Some(Field::Other(Loose::Number(n))) => w = w.raw("id", &n.to_string()),
            _ => {}
        }
        self.send_text(id, w.finish());
    }

    // ----- internals: turns ----------------------------------------------------------------

    fn running_turn(&mut self, turn: TurnId) -> Result<Option<&mut TurnState>, UsageError> {
        if turn.0 == 0 || turn.0 > self.next_turn {
            return Err(UsageError::UnknownTurn);
        }
        Ok(self.turns.get_mut(&turn).filter(|t| t.running))
    }

    fn start_turn(&mut self, now: u64, turn_id: TurnId) {
        let Some(state) = self.turns.get_mut(&turn_id) else {
            return;
        };
        state.running = true;
        state.last_output = now;
        state.last_keepalive = now;
        let run = core::mem::take(&mut state.pending_run).then(|| state.turn.clone());
        if let Some(session) = self.sessions.at_mut(state.session) {
            session.running = Some(turn_id);
        }
        self.schedule_turn(turn_id);
        if let Some(turn) = run {
            self.events.push_back(Event::RunTurn(turn));
        }
    }

    fn check_turn(&mut self, now: u64, turn: TurnId) {
        if let Some(state) = self.turns.get_mut(&turn) {
            state.timer_at = None; // popped by handle_timeout
        }
        let Some(state) = self.turns.get(&turn).filter(|t| t.running) else {
            return;
        };
        let t = &self.config.timing;
        if t.agent_timeout_ms > 0 && now >= state.last_output + t.agent_timeout_ms {
            self.events.push_back(Event::CancelTurn {
                turn,
                reason: CancelReason::TimedOut,
            });
            self.finish_turn(
                now,
                turn,
                Outcome::Failed,
                Some((ErrorCode::AgentTimeout, "The agent did not respond in time")),
            );
            return;
        }
        if t.keepalive_ms > 0 && now >= state.last_keepalive.max(state.last_output) + t.keepalive_ms
        {
            let (key, origin, message_id) = (
                state.session_key().to_owned(),
                state.origin(),
                state.message_id().to_owned(),
            );
            self.send_keepalive(now, &key, origin, &message_id);
            if let Some(state) = self.turns.get_mut(&turn) {
                state.last_keepalive = now;
            }
        }
        self.schedule_turn(turn);
    }

    fn schedule_turn(&mut self, turn: TurnId) {
        if let Some(state) = self.turns.get_mut(&turn) {
            state.reschedule(&mut self.timers, &self.config.timing, turn);
        }
        // A deadline moved leaves its old entry stale: keep the front live for poll_timeout.
        let turns = self.turns.len();
        self.timers
            .drop_stale_turns(turns, timer_is_live(&self.turns));
    }

    /// Keeps proxies from cutting a silent turn: v2 followers get `chat.keepalive`, a v1
    /// origin gets the seed's `chat.typing` again. Not part of the session's history.
    fn send_keepalive(&mut self, _now: u64, key: &str, origin: ConnectionId, message_id: &str) {
        let attached = self
            .sessions
            .get(key)
            .map(|s| s.attached.clone())
            .unwrap_or_default();
        for conn in attached {
            let frame = ObjectWriter::frame("chat.keepalive", 32 + message_id.len())
                .str("messageId", message_id)
                .finish();
            self.send_text(conn, frame);
        }
        if self
            .conns
            .get(&origin)
            .is_some_and(|c| c.protocol < 2 && matches!(c.state, ConnState::Open))
        {
            self.send_with(origin, |out| outbound::typing(out, message_id, None));
        }
    }

    /// Ends a turn: final frames (or the error), the history event, then the next queued turn.
    fn finish_turn(
        &mut self,
        now: u64,
        turn: TurnId,
        outcome: Outcome,
        error: Option<(ErrorCode, &str)>,
    ) {
        let Some(state) = self.turns.remove(&turn) else {
            return;
        };
        if state.timer_at.is_some() {
            let turns = self.turns.len();
            self.timers
                .drop_stale_turns(turns, timer_is_live(&self.turns));
        }
        let TurnState {
            turn: handle,
            session,
            text: reply,
            ..
        } = state;
        let key = handle.session_key();
        let origin = Origin::Connection(handle.connection());
        let text = match error {
            Some((code, text)) => {
                self.emit_at(
                    session,
                    key,
                    origin,
                    SessionFrame::Error {
                        message_id: handle.message_id(),
                        code,
                        text,
                        partial: &reply,
                    },
                    None,
                );
                text.to_owned()
            }
            None => {
                // A reply no longer than the limit in bytes is one chunk: skip the split.
                let whole = [reply.as_str()];
                let split;
                let chunks: &[&str] = if reply.len() <= self.config.text_chunk_limit {
                    &whole
                } else {
                    split = chunk::split(&reply, self.config.text_chunk_limit);
                    &split
                };
                let total = chunks.len();
                for (i, content) in chunks.iter().enumerate() {
                    self.emit_at(
                        session,
                        key,
                        origin,
                        SessionFrame::Response {
                            message_id: handle.message_id(),
                            content,
                            index: i + 1,
                            chunks: total,
                            cancelled: outcome == Outcome::Cancelled,
                        },
                        None,
                    );
                }
                reply
            }
        };
        let next = match self.sessions.at_mut(session) {
            Some(session) => {
                session.last_active = now;
                if session.running == Some(turn) {
                    session.running = None;
                }
                session.queue.retain(|t| *t != turn);
                if session.running.is_none() {
                    session.queue.pop_front()
                } else {
                    None
                }
            }
            None => None,
        };
        self.events.push_back(Event::TurnFinished {
            turn,
            session_key: key.to_owned(),
            message_id: handle.message_id().to_owned(),
            outcome,
            text,
        });
        if let Some(next) = next {
            self.start_turn(now, next);
        }
    }

    fn cancel_turn(&mut self, now: u64, turn: TurnId, reason: CancelReason) {
        let Some(state) = self.turns.get(&turn) else {
            return;
        };
        if state.running {
            self.events.push_back(Event::CancelTurn { turn, reason });
        }
        self.finish_turn(now, turn, Outcome::Cancelled, None);
    }

    /// Records a session frame and delivers it (see [`emit_frame`]); `key` is the session's.
    fn emit_at(
        &mut self,
        at: SessionRef,
        key: &str,
        origin: Origin,
        frame: LiveFrame<'_>,
        reply: Option<&str>,
    ) -> u64 {
        let Some(session) = self.sessions.at_mut(at) else {
            return 0;
        };
        emit_frame(
            session,
            &mut self.conns,
            &mut self.transmits,
            &self.config.limits,
            key,
            origin,
            frame,
            reply,
        )
    }

    /// Forgets the least recently active idle sessions beyond the bound.
    fn evict_idle_sessions(&mut self) {
        if self.sessions.len() <= MAX_IDLE_SESSIONS {
            return;
        }
        let mut idle: Vec<(u64, String)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.is_idle())
            .map(|(k, s)| (s.last_active, k.to_owned()))
            .collect();
        idle.sort_unstable();
        // Evict a tenth at once so the scan is rare.
        let excess = self.sessions.len() - MAX_IDLE_SESSIONS + MAX_IDLE_SESSIONS / 10;
        for (_, key) in idle.into_iter().take(excess) {
            self.sessions.remove(&key);
        }
    }

    #[cfg(test)]
    pub(crate) fn timer_count(&self) -> usize {
        self.timers.len()
    }
}

/// When a running turn next needs attention: a keepalive after `keepalive_ms` of silence, or
/// the agent timeout after `agent_timeout_ms` without output.
fn running_turn_deadline(t: &Timing, last_output: u64, last_keepalive: u64) -> Option<u64> {
    let keepalive = (t.keepalive_ms > 0).then(|| last_keepalive.max(last_output) + t.keepalive_ms);
    let timeout = (t.agent_timeout_ms > 0).then(|| last_output + t.agent_timeout_ms);
    match (keepalive, timeout) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether a turn timer entry is still its turn's deadline (see `Timers`).
fn timer_is_live(turns: &IdTable<TurnId, TurnState>) -> impl Fn(u64, TurnId) -> bool + '_ {
    |at, turn| turns.get(&turn).is_some_and(|t| t.timer_at == Some(at))
}

/// Whether the dm policy lets this sender message the agent directly (see [`check_dm_policy`]).
#[inline]
fn dm_policy_admits(
    config: &Config,
    pairing: &mut Pairing,
    events: &mut VecDeque<Event>,
    sender_id: &str,
    sender_name: Option<&str>,
) -> Result<(), (ErrorCode, String, Option<String>)> {
    if config.dm_policy == DmPolicy::Open {
        return Ok(());
    }
    check_dm_policy(config, pairing, events, sender_id, sender_name)
}

/// Whether the dm policy lets this sender message the agent directly. Pairing asks the host
/// to show the operator a code (an event), once per code.
fn check_dm_policy(
    config: &Config,
    pairing: &mut Pairing,
    events: &mut VecDeque<Event>,
    sender_id: &str,
    sender_name: Option<&str>,
) -> Result<(), (ErrorCode, String, Option<String>)> {
    let listed = || config.allow_from.iter().any(|a| a == "*" || a == sender_id);
    match config.dm_policy {
        DmPolicy::Open => Ok(()),
        DmPolicy::Disabled => Err((
            ErrorCode::NotAllowed,
            "Direct messages are disabled on this server".to_owned(),
            None,
        )),
        DmPolicy::Allowlist if listed() => Ok(()),
        DmPolicy::Allowlist => Err((
            ErrorCode::NotAllowed,
            "This sender is not allowed to message the agent".to_owned(),
            None,
        )),
        DmPolicy::Pairing if listed() || pairing.approved.contains(sender_id) => Ok(()),
        DmPolicy::Pairing => {
            let code = pairing::code_for(&config.pairing_seed, sender_id);
            if pairing.request(&code, sender_id, sender_name) {
                events.push_back(Event::PairingRequested {
                    code: code.as_str().to_owned(),
                    sender_id: sender_id.to_owned(),
                    sender_name: sender_name.map(str::to_owned),
                });
            }
            Err((
                ErrorCode::PairingRequired,
                format!(
                    "Pairing required: ask the operator to approve code {}",
                    code.as_str()
                ),
                Some(code.as_str().to_owned()),
            ))
        }
    }
}

/// The agent's input as the seed builds it, up to the content that follows.
fn push_envelope_prefix(body: &mut String, name: &str, reply_to_body: Option<&str>) {
    if let Some(quote) = reply_to_body {
        body.push_str("[Replying to: \"");
        body.push_str(quote);
        body.push_str("\"]\n\n");
    }
    body.push_str(name);
    body.push_str(": ");
}

fn frame_too_large_text(max: usize) -> String {
    format!("Frame exceeds {max} bytes")
}

/// Records a session frame and delivers it: to every attached v2 connection (with seq, in its
/// stream mode) and to the v1 origin of a turn (seed frames: no seq, no acks). Each rendering
/// is written once however many connections receive it.
/// Returns the frame's seq.
#[allow(clippy::too_many_arguments)]
fn emit_frame(
    session: &mut Session,
    conns: &mut IdTable<ConnectionId, Connection>,
    transmits: &mut Transmits,
    limits: &Limits,
    key: &str,
    origin: Origin,
    frame: LiveFrame<'_>,
    reply: Option<&str>,
) -> u64 {
    let unseen = session.attached.is_empty()
        && (matches!(origin, Origin::None) || matches!(frame, SessionFrame::Ack { .. }));
    if unseen && !session.followed {
        // Nobody receives it and nobody can replay it (an ack in a session no v2 connection
        // ever followed): it only takes its seq. Decided before any delivery work.
        return session.record(frame, limits.replay_frames, limits.replay_bytes);
    }
    let seq = session.next_seq;
    // Renderings: [v1, v2 cumulative, v2 delta], and how many recipients still need each.
    let slot_of = |conn: &Connection, v2: bool| -> Option<usize> {
        // v1 connections get only their own turns' frames; v2 ones get them by attachment.
        if !matches!(conn.state, ConnState::Open) || (!v2 && conn.protocol >= 2) {
            return None;
        }
        Some(match (v2, conn.stream_mode) {
            (false, _) => 0,
            (true, StreamMode::Cumulative) => 1,
            (true, StreamMode::Delta) => 2,
        })
    };
    let origin = match origin {
        Origin::Connection(c) if !matches!(frame, SessionFrame::Ack { .. }) => Some(c),
        _ => None,
    };
    if session.attached.is_empty() {
        // The common cases: nobody to deliver to (an ack in a session no v2 connection
        // follows), or only a v1 origin. One lookup, one rendering, no counting.
        if let Some(conn_id) = origin {
            if let Some(conn) = conns
                .get_mut(&conn_id)
                .filter(|c| slot_of(c, false).is_some())
            {
                conn.last_outbound = conn.last_outbound.max(conn.last_inbound);
                transmits.push_text(conn_id, |out| {
                    frame.render_into(out, None, StreamMode::Cumulative, reply)
                });
            }
        }
        return session.record(frame, limits.replay_frames, limits.replay_bytes);
    }
    // Each rendering is written once and queued for every connection that takes it.
    let mut rendered: [Option<Written>; 3] = [None, None, None];
    let targets = session
        .attached
        .iter()
        .map(|c| (*c, true))
        .chain(origin.map(|c| (c, false)));
    for (conn_id, v2) in targets {
        let Some(conn) = conns.get_mut(&conn_id) else {
            continue;
        };
        let Some(slot) = slot_of(conn, v2) else {
            continue;
        };
        conn.last_outbound = conn.last_outbound.max(conn.last_inbound);
        match &rendered[slot] {
            Some(written) => transmits.push_again(conn_id, written),
            None => {
                let (seq, mode) = match slot {
                    0 => (None, StreamMode::Cumulative),
                    1 => (Some((seq, key)), StreamMode::Cumulative),
                    _ => (Some((seq, key)), StreamMode::Delta),
                };
                let written =
                    transmits.push_text(conn_id, |out| frame.render_into(out, seq, mode, reply));
                rendered[slot] = Some(written);
            }
        }
    }
    session.record(frame, limits.replay_frames, limits.replay_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deadlines of finished work are removed, not left to fire uselessly (the timer set would
    /// otherwise grow with every connection and turn).
    #[test]
    fn finished_work_leaves_no_timers() {
        let config =
            Config::from_json(r#"{"auth":{"enabled":true},"limits":{"messagesPerMinute":0}}"#)
                .unwrap();
        let mut server = Server::new(config);
        let c = server.handle_connect(0, "token=t");
        assert_eq!(server.timer_count(), 1);
        server.handle_disconnect(1, c).unwrap();
        assert_eq!(server.timer_count(), 0);

        let c = server.handle_connect(2, "token=t");
        server.handle_auth_response(3, c, 200, br#"{"success":true,"data":{"userId":"u"}}"#);
        assert_eq!(
            server.timer_count(),
            1,
            "auth deadline replaced by the idle check"
        );
        for i in 0..100 {
            server
                .handle_text(10 + i, c, br#"{"type":"chat.send","content":"hi"}"#)
                .unwrap();
            let turn = core::iter::from_fn(|| server.poll_event())
                .find_map(|e| match e {
                    Event::RunTurn(t) => Some(t.id()),
                    _ => None,
                })
                .unwrap();
            assert_eq!(server.timer_count(), 2);
            server.handle_agent_final(11 + i, turn, Some("ok")).unwrap();
            assert_eq!(server.timer_count(), 1);
        }
        server.handle_disconnect(500, c).unwrap();
        assert_eq!(server.timer_count(), 0);
        assert_eq!(server.poll_timeout(), None);
    }
}
