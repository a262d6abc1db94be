//! The client side: build `chat.send`, read server frames, assemble streamed replies, and
//! (protocol 2) resume after a reconnect without losing or duplicating a frame.
//!
//! Sans-IO like the server: the host opens sockets when told ([`ClientEvent::Reconnect`]),
//! passes frames in with [`Client::handle_frame`], writes what [`Client::poll_transmit`]
//! returns, and calls [`Client::handle_timeout`] at [`Client::poll_timeout`].

use alloc::borrow::ToOwned;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use serde_json::{Map, Value};

use crate::error::ErrorCode;
use crate::outbound::ObjectWriter;
use crate::session::StreamMode;

/// How the client connects and recovers.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// `senderId` URL parameter (none: the server uses the connection id).
    pub sender_id: Option<String>,
    /// `senderName` URL parameter.
    pub sender_name: Option<String>,
    /// `token` URL parameter.
    pub token: Option<String>,
    /// 1 speaks the seed protocol only; 2 adds seq, acks and resume.
    pub protocol: u8,
    /// Stream content wanted (protocol 2).
    pub stream: StreamMode,
    /// Prefix of generated message ids (make it unique per device, e.g. a random string).
    pub message_id_prefix: String,
    /// First reconnect delay; doubles per failed attempt.
    pub reconnect_base_ms: u64,
    /// Longest reconnect delay.
    pub reconnect_max_ms: u64,
}

impl core::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The token is a secret: never let a `{:?}` put it in a log.
        f.debug_struct("ClientOptions")
            .field("sender_id", &self.sender_id)
            .field("sender_name", &self.sender_name)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("protocol", &self.protocol)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            sender_id: None,
            sender_name: None,
            token: None,
            protocol: 2,
            stream: StreamMode::Delta,
            message_id_prefix: "c".to_owned(),
            reconnect_base_ms: 500,
            reconnect_max_ms: 30_000,
        }
    }
}

/// One message to send. Only `content` is required.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendOptions {
    /// The text.
    pub content: String,
    /// Message id (generated when absent).
    pub message_id: Option<String>,
    /// Per-message sender (seed behaviour; refused for authenticated connections unless equal).
    pub sender_id: Option<String>,
    /// Per-message display name.
    pub sender_name: Option<String>,
    /// Group id: makes this a group message.
    pub group_id: Option<String>,
    /// Group subject.
    pub group_subject: Option<String>,
    /// Quoted message id.
    pub reply_to_message_id: Option<String>,
    /// Quoted text.
    pub reply_to_body: Option<String>,
    /// Media references (URLs or relative paths) with optional MIME types.
    pub media: Vec<(String, Option<String>)>,
    /// Custom data object passed to the agent.
    pub custom_data: Option<Map<String, Value>>,
}

/// What the client learned from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The server accepted the connection.
    Ready {
        /// Protocol in force on this connection.
        protocol: u8,
        /// Identity the server uses.
        sender_id: String,
        /// Whether the server verified it.
        authenticated: bool,
        /// Default (direct) session.
        session_key: String,
        /// Interval the client should ping at (protocol 2).
        heartbeat_ms: u64,
    },
    /// A message was accepted (protocol 2).
    Acked {
        /// Message id.
        message_id: String,
        /// A repeat of a message the server already had.
        duplicate: bool,
    },
    /// The agent is working on a message.
    Typing {
        /// Message id.
        message_id: String,
        /// Session of the message (protocol 2; `None` from seed servers).
        session_key: Option<String>,
    },
    /// More of a reply arrived; `text` is everything so far.
    Partial {
        /// Message id.
        message_id: String,
        /// Session of the reply (protocol 2; `None` from seed servers).
        session_key: Option<String>,
        /// Text so far.
        text: String,
    },
    /// A reply is complete.
    Reply {
        /// Message id.
        message_id: String,
        /// Session of the reply (protocol 2; `None` from seed servers and for the greeting).
        session_key: Option<String>,
        /// The full reply.
        text: String,
        /// It was stopped early; `text` is what had been produced.
        cancelled: bool,
    },
    /// The server refused something or the agent failed.
    Error {
        /// Message id, when the error is about one message.
        message_id: Option<String>,
        /// Session concerned, when the error belongs to one (protocol 2).
        session_key: Option<String>,
        /// Stable code (`None` for codes newer than this client, or seed servers).
        code: Option<ErrorCode>,
        /// The code as sent, even when unknown here.
        code_text: Option<String>,
        /// Human-readable text.
        message: String,
        /// Whether retrying can succeed.
        retryable: bool,
        /// Suggested wait before retrying.
        retry_after_ms: Option<u64>,
    },
    /// A resume could not replay everything: some frames are gone (fetch history to fill in).
    ResumeGap {
        /// Session concerned.
        session_key: String,
    },
    /// A history page arrived (the frame's JSON as sent).
    History {
        /// The raw `chat.history` frame.
        frame: String,
    },
    /// The host should open a new socket now (and call [`Client::handle_open`]).
    Reconnect {
        /// Failed attempts so far.
        attempt: u32,
    },
    /// The server closed for good (authentication failures are not retried).
    Closed {
        /// Close code.
        code: u16,
        /// Whether the client will reconnect.
        reconnecting: bool,
    },
}

/// Misuse of the client API, or a frame the client cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// `content` is empty.
    EmptyContent,
    /// A server frame is not a JSON object with a `type`.
    InvalidFrame,
}

impl ClientError {
    /// Stable short name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            ClientError::EmptyContent => "empty_content",
            ClientError::InvalidFrame => "invalid_frame",
        }
    }
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ClientError::EmptyContent => "message content is empty",
            ClientError::InvalidFrame => "server frame is not a JSON object with a type",
        })
    }
}

impl core::error::Error for ClientError {}

#[derive(Debug, Default, Clone)]
struct Reply {
    text: String,
    /// Chunks of a split final reply collected so far.
    final_text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Down,
    Open,
}

/// The client state machine.
#[derive(Debug)]
pub struct Client {
    options: ClientOptions,
    link: Link,
    protocol: u8,
    heartbeat_ms: u64,
    attempt: u32,
    reconnect_at: Option<u64>,
    ping_at: Option<u64>,
    next_message: u64,
    /// Last seq seen per session (protocol 2).
    last_seq: BTreeMap<String, u64>,
    replies: BTreeMap<String, Reply>,
    /// Sent, not yet acknowledged (resent after a reconnect; the server deduplicates).
    unacked: Vec<(String, String)>,
    outbox: VecDeque<String>,
    events: VecDeque<ClientEvent>,
    stopped: bool,
}

impl Client {
    /// A client that is not connected yet: the first [`Client::poll_event`] asks for a socket.
    pub fn new(options: ClientOptions) -> Client {
        let mut events = VecDeque::new();
        events.push_back(ClientEvent::Reconnect { attempt: 0 });
        Client {
            protocol: options.protocol.clamp(1, 2),
            options,
            link: Link::Down,
            heartbeat_ms: 0,
            attempt: 0,
            reconnect_at: None,
            ping_at: None,
            next_message: 0,
            last_seq: BTreeMap::new(),
            replies: BTreeMap::new(),
            unacked: Vec::new(),
            outbox: VecDeque::new(),
            events,
            stopped: false,
        }
    }

    /// The URL query to connect with (`senderId=..&protocol=2&stream=delta`), percent-encoded.
    pub fn connect_query(&self) -> String {
        let mut q = String::new();
        let mut add = |k: &str, v: &str| {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(k);
            q.push('=');
            for b in v.bytes() {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                    q.push(b as char);
                } else {
                    let _ = write!(q, "%{b:02X}");
                }
            }
        };
        if let Some(v) = &self.options.sender_id {
            add("senderId", v);
        }
        if let Some(v) = &self.options.sender_name {
            add("senderName", v);
        }
        if let Some(v) = &self.options.token {
            add("token", v);
        }
        if self.protocol >= 2 {
            add("protocol", "2");
            if self.options.stream == StreamMode::Delta {
                add("stream", "delta");
            }
        }
        q
    }

    /// Builds a `chat.send` frame, queues it for the socket and returns its message id.
    pub fn send(&mut self, _now: u64, message: &SendOptions) -> Result<String, ClientError> {
        if message.content.trim().is_empty() {
            return Err(ClientError::EmptyContent);
        }
        let message_id = match &message.message_id {
            Some(id) => id.clone(),
            None => {
                self.next_message += 1;
                format!("{}-{}", self.options.message_id_prefix, self.next_message)
            }
        };
        let frame = build_send(&message_id, message);
        if self.protocol >= 2 {
            self.unacked.push((message_id.clone(), frame.clone()));
        }
        self.outbox.push_back(frame);
        Ok(message_id)
    }

    /// Asks the server to stop a running reply.
    pub fn cancel(&mut self, message_id: Option<&str>) {
        let frame = ObjectWriter::frame("chat.cancel", 48)
            .opt_str("messageId", message_id)
            .finish();
        self.outbox.push_back(frame);
    }

    /// Asks for a page of a session's history (`None`: the connection's own session).
    pub fn request_history(&mut self, session_key: Option<&str>, limit: u32, cursor: Option<&str>) {
        let frame = ObjectWriter::frame("chat.history", 64)
            .opt_str("sessionKey", session_key)
            .u64("limit", u64::from(limit))
            .opt_str("cursor", cursor)
            .finish();
        self.outbox.push_back(frame);
    }

    /// The socket is open. On a reconnect (protocol 2) the client resumes every session it
    /// follows and resends unacknowledged messages (the server never runs one twice).
    pub fn handle_open(&mut self, _now: u64) {
        self.link = Link::Open;
        self.reconnect_at = None;
        if self.protocol >= 2 {
            let mut frames: Vec<String> = self
                .last_seq
                .iter()
                .map(|(key, seq)| {
                    ObjectWriter::frame("chat.resume", 64 + key.len())
                        .str("sessionKey", key)
                        .u64("lastSeq", *seq)
                        .finish()
                })
                .collect();
            frames.extend(self.unacked.iter().map(|(_, f)| f.clone()));
            // Resumes and resends go before anything queued while the socket was down.
            let queued: Vec<String> = self
                .outbox
                .drain(..)
                .filter(|f| !frames.contains(f))
                .collect();
            self.outbox.extend(frames);
            self.outbox.extend(queued);
        }
    }

    /// The socket closed (or failed to open). Schedules a reconnect unless the server refused
    /// authentication (4401) or the host called [`Client::stop`].
    pub fn handle_close(&mut self, now: u64, code: u16) {
        self.link = Link::Down;
        self.ping_at = None;
        let reconnecting = !self.stopped && code != crate::server::CLOSE_AUTH;
        if reconnecting {
            let delay = self
                .options
                .reconnect_base_ms
                .saturating_mul(1u64 << self.attempt.min(16))
                .min(self.options.reconnect_max_ms);
            self.reconnect_at = Some(now + delay);
            self.attempt += 1;
        }
        self.events
            .push_back(ClientEvent::Closed { code, reconnecting });
    }

    /// No more reconnects.
    pub fn stop(&mut self) {
        self.stopped = true;
        self.reconnect_at = None;
    }

    /// A text frame from the server.
    pub fn handle_frame(&mut self, now: u64, text: &str) -> Result<(), ClientError> {
        let value: Value = serde_json::from_str(text).map_err(|_| ClientError::InvalidFrame)?;
        let frame = value.as_object().ok_or(ClientError::InvalidFrame)?;
        let s = |k: &str| frame.get(k).and_then(Value::as_str);
        let kind = s("type").ok_or(ClientError::InvalidFrame)?;
        // Frames of a session carry seq (protocol 2): skip anything already seen.
        if let (Some(key), Some(seq)) = (s("sessionKey"), frame.get("seq").and_then(Value::as_u64))
        {
            if kind != "chat.resumed"
                && !(kind == "chat.ack" && frame.get("duplicate") == Some(&Value::Bool(true)))
            {
                let last = self.last_seq.entry(key.to_owned()).or_insert(0);
                if seq <= *last && frame.get("snapshot") != Some(&Value::Bool(true)) {
                    return Ok(());
                }
                *last = (*last).max(seq);
            }
        }
        let message_id = s("messageId").map(str::to_owned);
        // Which conversation a frame belongs to, for clients that follow several sessions.
        let session_key = s("sessionKey").map(str::to_owned);
        match kind {
            "chat.ready" => {
                self.attempt = 0;
                let protocol = frame.get("protocol").and_then(Value::as_u64).unwrap_or(1) as u8;
                self.heartbeat_ms = frame
                    .get("heartbeatMs")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                if protocol >= 2 && self.heartbeat_ms > 0 {
                    self.ping_at = Some(now + self.heartbeat_ms);
                }
                let session_key = s("sessionKey").unwrap_or("").to_owned();
                if protocol >= 2 && !session_key.is_empty() {
                    self.last_seq.entry(session_key.clone()).or_insert(0);
                }
                self.events.push_back(ClientEvent::Ready {
                    protocol,
                    sender_id: s("senderId").unwrap_or("").to_owned(),
                    authenticated: frame
                        .get("authenticated")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    session_key,
                    heartbeat_ms: self.heartbeat_ms,
                });
            }
            "chat.ack" => {
                let Some(id) = message_id else { return Ok(()) };
                self.unacked.retain(|(m, _)| *m != id);
                self.events.push_back(ClientEvent::Acked {
                    message_id: id,
                    duplicate: frame.get("duplicate") == Some(&Value::Bool(true)),
                });
            }
            "chat.typing" => {
                // The seed's typing carries no message id; report it as an empty one.
                let id = message_id.unwrap_or_default();
                self.unacked.retain(|(m, _)| *m != id);
                self.events.push_back(ClientEvent::Typing {
                    message_id: id,
                    session_key,
                });
            }
            "chat.stream" => {
                let id = message_id.unwrap_or_default();
                let content = s("content").unwrap_or("");
                let reply = self.replies.entry(id.clone()).or_default();
                let replaces = self.options.stream == StreamMode::Cumulative
                    || self.protocol < 2
                    || frame.get("replace") == Some(&Value::Bool(true))
                    || frame.get("snapshot") == Some(&Value::Bool(true));
                if replaces {
                    reply.text.clear();
                }
                reply.text.push_str(content);
                self.events.push_back(ClientEvent::Partial {
                    message_id: id,
                    session_key,
                    text: reply.text.clone(),
                });
            }
            "chat.response" => {
                let content = s("content").unwrap_or("");
                let Some(id) = message_id else {
                    // The seed's greeting: no message id, not a reply to anything.
                    self.events.push_back(ClientEvent::Reply {
                        message_id: String::new(),
                        session_key,
                        text: content.to_owned(),
                        cancelled: false,
                    });
                    return Ok(());
                };
                let done = frame.get("done").and_then(Value::as_bool).unwrap_or(true);
                let reply = self.replies.entry(id.clone()).or_default();
                reply.final_text.push_str(content);
                if done {
                    let text = self
                        .replies
                        .remove(&id)
                        .map(|r| r.final_text)
                        .unwrap_or_default();
                    self.events.push_back(ClientEvent::Reply {
                        message_id: id,
                        session_key,
                        text,
                        cancelled: frame.get("cancelled") == Some(&Value::Bool(true)),
                    });
                }
            }
            "chat.error" => {
                let code_text = s("code").map(str::to_owned);
                if let Some(id) = &message_id {
                    self.replies.remove(id);
                    self.unacked.retain(|(m, _)| m != id);
                }
                if code_text.as_deref() == Some(ErrorCode::ResumeGap.as_str()) {
                    return Ok(());
                }
                self.events.push_back(ClientEvent::Error {
                    message_id,
                    session_key,
                    code: code_text.as_deref().and_then(ErrorCode::from_wire),
                    code_text,
                    message: s("error").unwrap_or("").to_owned(),
                    retryable: frame
                        .get("retryable")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    retry_after_ms: frame.get("retryAfterMs").and_then(Value::as_u64),
                });
            }
            "chat.resumed" => {
                let key = s("sessionKey").unwrap_or("").to_owned();
                if let Some(seq) = frame.get("seq").and_then(Value::as_u64) {
                    let last = self.last_seq.entry(key.clone()).or_insert(0);
                    *last = (*last).max(seq);
                }
                if frame.get("gap") == Some(&Value::Bool(true)) {
                    self.events
                        .push_back(ClientEvent::ResumeGap { session_key: key });
                }
            }
            "chat.history" => self.events.push_back(ClientEvent::History {
                frame: text.to_owned(),
            }),
            // pong, keepalive and frame types newer than this client need no action.
            _ => {}
        }
        Ok(())
    }

    /// Runs due timers: reconnect and heartbeat ping.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.reconnect_at.is_some_and(|at| at <= now) {
            self.reconnect_at = None;
            self.events.push_back(ClientEvent::Reconnect {
                attempt: self.attempt,
            });
        }
        if self.link == Link::Open && self.ping_at.is_some_and(|at| at <= now) {
            self.outbox.push_back("{\"type\":\"ping\"}".to_owned());
            self.ping_at = Some(now + self.heartbeat_ms);
        }
    }

    /// The next frame to write; `None` while the socket is down (frames wait).
    pub fn poll_transmit(&mut self) -> Option<String> {
        if self.link == Link::Open {
            self.outbox.pop_front()
        } else {
            None
        }
    }

    /// The next thing the client learned.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When to call [`Client::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<u64> {
        match (
            self.reconnect_at,
            self.ping_at.filter(|_| self.link == Link::Open),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Last seq seen per session (protocol 2), for hosts that persist it across restarts.
    pub fn last_seqs(&self) -> Vec<(String, u64)> {
        self.last_seq.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Restores a session's last seen seq (after an app restart).
    pub fn set_last_seq(&mut self, session_key: &str, seq: u64) {
        self.last_seq.insert(session_key.to_owned(), seq);
    }
}

/// The `chat.send` JSON for `message` (fields in the seed README's order).
pub fn build_send(message_id: &str, m: &SendOptions) -> String {
    let mut w = ObjectWriter::frame("chat.send", 64 + m.content.len())
        .str("content", &m.content)
        .str("messageId", message_id)
        .opt_str("senderId", m.sender_id.as_deref())
        .opt_str("senderName", m.sender_name.as_deref());
    if let Some(group) = &m.group_id {
        w = w
            .str("chatType", "group")
            .str("groupId", group)
            .opt_str("groupSubject", m.group_subject.as_deref());
    }
    w = w
        .opt_str("replyToMessageId", m.reply_to_message_id.as_deref())
        .opt_str("replyToBody", m.reply_to_body.as_deref());
    if !m.media.is_empty() {
        w = w.str_array("mediaPaths", m.media.iter().map(|(p, _)| p.as_str()));
        if m.media.iter().any(|(_, t)| t.is_some()) {
            w = w.str_array(
                "mediaTypes",
                m.media.iter().map(|(_, t)| t.as_deref().unwrap_or("")),
            );
        }
    }
    if let Some(data) = &m.custom_data {
        let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_string());
        w = w.raw("customData", &json);
    }
    w.finish()
}
