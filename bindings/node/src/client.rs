//! `Client`: the core's client state machine, method for method.

use clawsocket_core::{ClientEvent as CoreEvent, StreamMode};
use napi_derive::napi;
use serde_json::Value;

use napi::Result;

use crate::error::{self, Code};
use crate::input;

/// Stream content a protocol 2 client asks for.
#[napi(string_enum = "lowercase")]
#[derive(Debug)]
pub enum Stream {
    /// Each `chat.stream` carries only the new text.
    Delta,
    /// Each `chat.stream` carries the whole text so far (the seed's behaviour).
    Cumulative,
}

/// How the client connects and recovers; every field is optional.
#[napi(object)]
#[derive(Debug, Default)]
pub struct ClientOptions {
    /// `senderId` URL parameter.
    pub sender_id: Option<String>,
    /// `senderName` URL parameter.
    pub sender_name: Option<String>,
    /// `token` URL parameter.
    pub token: Option<String>,
    /// 1 speaks the seed protocol only; 2 (default) adds seq, acks and resume.
    pub protocol: Option<u32>,
    /// Stream content wanted (protocol 2; default `delta`).
    pub stream: Option<Stream>,
    /// Prefix of generated message ids (make it unique per device).
    pub message_id_prefix: Option<String>,
    /// First reconnect delay in milliseconds; doubles per failed attempt.
    pub reconnect_base_ms: Option<i64>,
    /// Longest reconnect delay in milliseconds.
    pub reconnect_max_ms: Option<i64>,
}

/// A media reference: an http(s) URL or a relative path, with an optional MIME type.
#[napi(object)]
#[derive(Debug)]
pub struct MediaRef {
    /// URL or relative path.
    pub path: String,
    /// MIME type.
    pub mime_type: Option<String>,
}

/// One message to send; only `content` is required.
#[napi(object)]
#[derive(Debug)]
pub struct SendOptions {
    /// The text.
    pub content: String,
    /// Message id (generated when absent).
    pub message_id: Option<String>,
    /// Per-message sender (seed behaviour).
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
    /// Media references.
    pub media: Option<Vec<MediaRef>>,
    /// Custom data object passed to the agent.
    pub custom_data: Option<Value>,
}

impl TryFrom<SendOptions> for clawsocket_core::SendOptions {
    type Error = error::JsError;

    fn try_from(m: SendOptions) -> Result<Self, Code> {
        let custom_data = match m.custom_data {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(error::argument("customData must be an object")),
        };
        Ok(clawsocket_core::SendOptions {
            content: m.content,
            message_id: m.message_id,
            sender_id: m.sender_id,
            sender_name: m.sender_name,
            group_id: m.group_id,
            group_subject: m.group_subject,
            reply_to_message_id: m.reply_to_message_id,
            reply_to_body: m.reply_to_body,
            media: m
                .media
                .unwrap_or_default()
                .into_iter()
                .map(|r| (r.path, r.mime_type))
                .collect(),
            custom_data,
        })
    }
}

/// What the client learned. `kind` says which fields are set: `ready` (protocol, senderId,
/// authenticated, sessionKey, heartbeatMs), `acked` (messageId, duplicate), `typing`
/// (messageId, sessionKey?), `partial` (messageId, sessionKey?, text so far), `reply`
/// (messageId, sessionKey?, text, cancelled), `error` (messageId?, sessionKey?, code?, message,
/// retryable, retryAfterMs?), `resume_gap` (sessionKey), `history` (frame), `reconnect`
/// (attempt), `closed` (closeCode, reconnecting). `sessionKey` on typing, partial, reply and
/// error comes from protocol-2 servers only.
#[napi(object)]
#[derive(Debug, Default)]
pub struct ClientEvent {
    /// Event kind.
    pub kind: String,
    /// `ready`: protocol in force.
    pub protocol: Option<u32>,
    /// `ready`: identity the server uses.
    pub sender_id: Option<String>,
    /// `ready`: whether the server verified it.
    pub authenticated: Option<bool>,
    /// `ready`: default session; `resume_gap`: the session concerned.
    pub session_key: Option<String>,
    /// `ready`: ping interval (protocol 2).
    pub heartbeat_ms: Option<i64>,
    /// Message concerned.
    pub message_id: Option<String>,
    /// `acked`: a repeat the server already had.
    pub duplicate: Option<bool>,
    /// `partial`: text so far; `reply`: the full reply.
    pub text: Option<String>,
    /// `reply`: stopped early.
    pub cancelled: Option<bool>,
    /// `error`: the stable code as sent (also codes newer than this client).
    pub code: Option<String>,
    /// `error`: human-readable text.
    pub message: Option<String>,
    /// `error`: whether retrying can succeed.
    pub retryable: Option<bool>,
    /// `error`: suggested wait before retrying.
    pub retry_after_ms: Option<i64>,
    /// `history`: the raw `chat.history` frame.
    pub frame: Option<String>,
    /// `reconnect`: failed attempts so far.
    pub attempt: Option<u32>,
    /// `closed`: close code.
    pub close_code: Option<u32>,
    /// `closed`: whether the client will reconnect.
    pub reconnecting: Option<bool>,
}

impl From<CoreEvent> for ClientEvent {
    fn from(event: CoreEvent) -> Self {
        let kind = |k: &str| ClientEvent {
            kind: k.to_owned(),
            ..ClientEvent::default()
        };
        match event {
            CoreEvent::Ready {
                protocol,
                sender_id,
                authenticated,
                session_key,
                heartbeat_ms,
            } => ClientEvent {
                protocol: Some(u32::from(protocol)),
                sender_id: Some(sender_id),
                authenticated: Some(authenticated),
                session_key: Some(session_key),
                heartbeat_ms: Some(input::number(heartbeat_ms)),
                ..kind("ready")
            },
            CoreEvent::Acked {
                message_id,
                duplicate,
            } => ClientEvent {
                message_id: Some(message_id),
                duplicate: Some(duplicate),
                ..kind("acked")
            },
            CoreEvent::Typing {
                message_id,
                session_key,
            } => ClientEvent {
                message_id: Some(message_id),
                session_key,
                ..kind("typing")
            },
            CoreEvent::Partial {
                message_id,
                session_key,
                text,
            } => ClientEvent {
                message_id: Some(message_id),
                session_key,
                text: Some(text),
                ..kind("partial")
            },
            CoreEvent::Reply {
                message_id,
                session_key,
                text,
                cancelled,
            } => ClientEvent {
                message_id: Some(message_id),
                session_key,
                text: Some(text),
                cancelled: Some(cancelled),
                ..kind("reply")
            },
            CoreEvent::Error {
                message_id,
                session_key,
                code_text,
                message,
                retryable,
                retry_after_ms,
                ..
            } => ClientEvent {
                message_id,
                session_key,
                code: code_text,
                message: Some(message),
                retryable: Some(retryable),
                retry_after_ms: retry_after_ms.map(input::number),
                ..kind("error")
            },
            CoreEvent::ResumeGap { session_key } => ClientEvent {
                session_key: Some(session_key),
                ..kind("resume_gap")
            },
            CoreEvent::History { frame } => ClientEvent {
                frame: Some(frame),
                ..kind("history")
            },
            CoreEvent::Reconnect { attempt } => ClientEvent {
                attempt: Some(attempt),
                ..kind("reconnect")
            },
            CoreEvent::Closed { code, reconnecting } => ClientEvent {
                close_code: Some(u32::from(code)),
                reconnecting: Some(reconnecting),
                ..kind("closed")
            },
        }
    }
}

/// The protocol's client side. The first `pollEvent` asks for a socket (`reconnect`).
#[napi]
#[derive(Debug)]
pub struct Client {
    inner: clawsocket_core::Client,
}

#[napi]
impl Client {
    /// A client that is not connected yet.
    #[napi(constructor)]
    pub fn new(options: Option<ClientOptions>) -> Result<Self, Code> {
        let o = options.unwrap_or_default();
        let defaults = clawsocket_core::ClientOptions::default();
        let protocol = match o.protocol {
            None => defaults.protocol,
            Some(p @ 1..=2) => p as u8,
            Some(p) => return Err(error::argument(format!("protocol must be 1 or 2, got {p}"))),
        };
        let options = clawsocket_core::ClientOptions {
            sender_id: o.sender_id,
            sender_name: o.sender_name,
            token: o.token,
            protocol,
            stream: match o.stream {
                None => defaults.stream,
                Some(Stream::Delta) => StreamMode::Delta,
                Some(Stream::Cumulative) => StreamMode::Cumulative,
            },
            message_id_prefix: o.message_id_prefix.unwrap_or(defaults.message_id_prefix),
            reconnect_base_ms: o
                .reconnect_base_ms
                .map_or(defaults.reconnect_base_ms, input::millis),
            reconnect_max_ms: o
                .reconnect_max_ms
                .map_or(defaults.reconnect_max_ms, input::millis),
        };
        Ok(Client {
            inner: clawsocket_core::Client::new(options),
        })
    }

    /// The URL query to connect with, percent-encoded (without `?`).
    #[napi]
    pub fn connect_query(&self) -> String {
        self.inner.connect_query()
    }

    /// Queues a `chat.send` and returns its message id (throws `empty_content`).
    #[napi]
    pub fn send(&mut self, now: i64, message: SendOptions) -> Result<String, Code> {
        let message = clawsocket_core::SendOptions::try_from(message)?;
        self.inner
            .send(input::millis(now), &message)
            .map_err(error::client)
    }

    /// Asks the server to stop a running reply (the session's, when no id is given).
    #[napi]
    pub fn cancel(&mut self, message_id: Option<String>) {
        self.inner.cancel(message_id.as_deref());
    }

    /// Asks for a page of a session's history.
    #[napi]
    pub fn request_history(
        &mut self,
        session_key: Option<String>,
        limit: u32,
        cursor: Option<String>,
    ) {
        self.inner
            .request_history(session_key.as_deref(), limit, cursor.as_deref());
    }

    /// The socket is open.
    #[napi]
    pub fn handle_open(&mut self, now: i64) {
        self.inner.handle_open(input::millis(now));
    }

    /// The socket closed (or failed to open) with this code.
    #[napi]
    pub fn handle_close(&mut self, now: i64, code: u32) {
        let code = u16::try_from(code).unwrap_or(1006);
        self.inner.handle_close(input::millis(now), code);
    }

    /// No more reconnects.
    #[napi]
    pub fn stop(&mut self) {
        self.inner.stop();
    }

    /// A text frame from the server (throws `invalid_frame` for non-JSON).
    #[napi]
    pub fn handle_frame(&mut self, now: i64, text: String) -> Result<(), Code> {
        self.inner
            .handle_frame(input::millis(now), &text)
            .map_err(error::client)
    }

    /// Runs due timers (reconnect, heartbeat ping).
    #[napi]
    pub fn handle_timeout(&mut self, now: i64) {
        self.inner.handle_timeout(input::millis(now));
    }

    /// The next frame to write, or `null` (also while the socket is down).
    #[napi]
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.inner.poll_transmit()
    }

    /// Every frame ready to write, in order.
    #[napi]
    pub fn poll_transmits(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.inner.poll_transmit()).collect()
    }

    /// The next thing the client learned, or `null`.
    #[napi]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.inner.poll_event().map(ClientEvent::from)
    }

    /// Every pending event, in order.
    #[napi]
    pub fn poll_events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.inner.poll_event())
            .map(ClientEvent::from)
            .collect()
    }

    /// When to call `handleTimeout`, or `null`.
    #[napi]
    pub fn poll_timeout(&self) -> Option<i64> {
        self.inner.poll_timeout().map(input::number)
    }

    /// Last seq seen per session, as `[sessionKey, seq]` pairs (to persist).
    #[napi]
    pub fn last_seqs(&self) -> Vec<(String, i64)> {
        self.inner
            .last_seqs()
            .into_iter()
            .map(|(k, v)| (k, input::number(v)))
            .collect()
    }

    /// Restores a session's last seen seq (after an app restart).
    #[napi]
    pub fn set_last_seq(&mut self, session_key: String, seq: i64) {
        self.inner.set_last_seq(&session_key, input::millis(seq));
    }
}

/// The `chat.send` JSON for `message` with this id (fields in the seed README's order).
#[napi]
pub fn build_send(message_id: String, message: SendOptions) -> Result<String, Code> {
    let message = clawsocket_core::SendOptions::try_from(message)?;
    Ok(clawsocket_core::build_send(&message_id, &message))
}
