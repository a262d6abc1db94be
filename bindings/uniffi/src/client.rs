//! The client state machine for apps: the app owns the socket and the clock; it opens a socket
//! when told (`Reconnect`), passes frames in, writes what `poll_transmit` returns and calls
//! `handle_timeout` at `poll_timeout`. Safe to call from any thread (UI, socket callbacks).

use std::fmt;
use std::sync::{Arc, Mutex};

use clawsocket_core as core_api;

use crate::error::ClawsocketError;
use crate::lock::locked;

/// How to stream replies (protocol 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StreamMode {
    /// Every stream frame carries the whole text so far (the seed's behaviour).
    Cumulative,
    /// Stream frames carry only the new text; the client assembles it.
    Delta,
}

/// How the client connects and recovers. The field defaults are the core's defaults (a Kotlin
/// test checks them against `default_client_options()`).
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClientOptions {
    /// `senderId` URL parameter (none: the server uses the connection id).
    #[uniffi(default = None)]
    pub sender_id: Option<String>,
    /// `senderName` URL parameter.
    #[uniffi(default = None)]
    pub sender_name: Option<String>,
    /// `token` URL parameter.
    #[uniffi(default = None)]
    pub token: Option<String>,
    /// 1 speaks the seed protocol only; 2 adds seq, acks and resume.
    #[uniffi(default = 2)]
    pub protocol: u8,
    /// Stream content wanted (protocol 2); `None` takes the core's default (delta).
    #[uniffi(default = None)]
    pub stream: Option<StreamMode>,
    /// Prefix of generated message ids (make it unique per device).
    #[uniffi(default = "c")]
    pub message_id_prefix: String,
    /// First reconnect delay in milliseconds; doubles per failed attempt.
    #[uniffi(default = 500)]
    pub reconnect_base_ms: u64,
    /// Longest reconnect delay in milliseconds.
    #[uniffi(default = 30000)]
    pub reconnect_max_ms: u64,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("sender_id", &self.sender_id)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

/// A media reference to send: an http(s) URL or a relative path.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MediaAttachment {
    /// URL or relative path.
    pub location: String,
    /// MIME type.
    #[uniffi(default = None)]
    pub mime_type: Option<String>,
}

/// One message to send. Only `content` is required.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SendOptions {
    /// The text.
    pub content: String,
    /// Message id (generated when absent).
    #[uniffi(default = None)]
    pub message_id: Option<String>,
    /// Per-message sender (refused by the server for authenticated connections unless equal).
    #[uniffi(default = None)]
    pub sender_id: Option<String>,
    /// Per-message display name.
    #[uniffi(default = None)]
    pub sender_name: Option<String>,
    /// Group id: makes this a group message.
    #[uniffi(default = None)]
    pub group_id: Option<String>,
    /// Group subject.
    #[uniffi(default = None)]
    pub group_subject: Option<String>,
    /// Quoted message id.
    #[uniffi(default = None)]
    pub reply_to_message_id: Option<String>,
    /// Quoted text.
    #[uniffi(default = None)]
    pub reply_to_body: Option<String>,
    /// Media references.
    #[uniffi(default = [])]
    pub media: Vec<MediaAttachment>,
    /// Custom data for the agent: a JSON object as text.
    #[uniffi(default = None)]
    pub custom_data_json: Option<String>,
}

/// Last seq seen in one session (protocol 2), for apps that persist it across restarts.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SessionSeq {
    /// Session key.
    pub session_key: String,
    /// Last seq seen.
    pub seq: u64,
}

/// What the client learned (see the core's `ClientEvent`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ClientEvent {
    /// The server accepted the connection.
    Ready {
        /// Protocol in force.
        protocol: u8,
        /// Identity the server uses.
        sender_id: String,
        /// Whether the server verified it.
        authenticated: bool,
        /// Default (direct) session.
        session_key: String,
        /// Ping interval (protocol 2), 0 for none.
        heartbeat_ms: u64,
    },
    /// A message was accepted (protocol 2).
    Acked {
        /// Message id.
        message_id: String,
        /// A repeat the server already had.
        duplicate: bool,
    },
    /// The agent is working on a message (empty id from seed servers).
    Typing {
        /// Message id.
        message_id: String,
        /// The message's session (protocol 2; `None` from seed servers).
        session_key: Option<String>,
    },
    /// More of a reply arrived; `text` is everything so far.
    Partial {
        /// Message id.
        message_id: String,
        /// Text so far.
        text: String,
        /// The reply's session (protocol 2; `None` from seed servers).
        session_key: Option<String>,
    },
    /// A reply is complete (an empty id is the seed's greeting).
    Reply {
        /// Message id.
        message_id: String,
        /// The full reply.
        text: String,
        /// Stopped early; `text` is what had been produced.
        cancelled: bool,
        /// The reply's session (protocol 2; `None` from seed servers and the greeting).
        session_key: Option<String>,
    },
    /// The server refused something or the agent failed.
    Error {
        /// Message id, when the error is about one message.
        message_id: Option<String>,
        /// Stable code as sent (`None` from seed servers).
        code: Option<String>,
        /// Human-readable text.
        message: String,
        /// Whether retrying can succeed.
        retryable: bool,
        /// Suggested wait before retrying.
        retry_after_ms: Option<u64>,
        /// The session concerned, when the error belongs to one (protocol 2).
        session_key: Option<String>,
    },
    /// A resume could not replay everything: fetch history to fill the gap.
    ResumeGap {
        /// Session concerned.
        session_key: String,
    },
    /// A history page arrived (the raw `chat.history` frame).
    History {
        /// The frame's JSON.
        frame: String,
    },
    /// Open a new socket now (with `connect_query()`), then call `handle_open`.
    Reconnect {
        /// Failed attempts so far.
        attempt: u32,
    },
    /// The socket closed.
    Closed {
        /// Close code.
        code: u16,
        /// Whether the client will ask to reconnect.
        reconnecting: bool,
    },
}

impl From<core_api::ClientEvent> for ClientEvent {
    fn from(e: core_api::ClientEvent) -> Self {
        use core_api::ClientEvent as E;
        match e {
            E::Ready {
                protocol,
                sender_id,
                authenticated,
                session_key,
                heartbeat_ms,
            } => ClientEvent::Ready {
                protocol,
                sender_id,
                authenticated,
                session_key,
                heartbeat_ms,
            },
            E::Acked {
                message_id,
                duplicate,
            } => ClientEvent::Acked {
                message_id,
                duplicate,
            },
            E::Typing {
                message_id,
                session_key,
            } => ClientEvent::Typing {
                message_id,
                session_key,
            },
            E::Partial {
                message_id,
                session_key,
                text,
            } => ClientEvent::Partial {
                message_id,
                text,
                session_key,
            },
            E::Reply {
                message_id,
                session_key,
                text,
                cancelled,
            } => ClientEvent::Reply {
                message_id,
                text,
                cancelled,
                session_key,
            },
            E::Error {
                message_id,
                session_key,
                code_text,
                message,
                retryable,
                retry_after_ms,
                ..
            } => ClientEvent::Error {
                message_id,
                code: code_text,
                message,
                retryable,
                retry_after_ms,
                session_key,
            },
            E::ResumeGap { session_key } => ClientEvent::ResumeGap { session_key },
            E::History { frame } => ClientEvent::History { frame },
            E::Reconnect { attempt } => ClientEvent::Reconnect { attempt },
            E::Closed { code, reconnecting } => ClientEvent::Closed { code, reconnecting },
        }
    }
}

impl From<StreamMode> for core_api::StreamMode {
    fn from(m: StreamMode) -> Self {
        match m {
            StreamMode::Cumulative => core_api::StreamMode::Cumulative,
            StreamMode::Delta => core_api::StreamMode::Delta,
        }
    }
}

impl From<core_api::StreamMode> for StreamMode {
    fn from(m: core_api::StreamMode) -> Self {
        match m {
            core_api::StreamMode::Cumulative => StreamMode::Cumulative,
            core_api::StreamMode::Delta => StreamMode::Delta,
        }
    }
}

impl From<ClientOptions> for core_api::ClientOptions {
    fn from(o: ClientOptions) -> Self {
        core_api::ClientOptions {
            sender_id: o.sender_id,
            sender_name: o.sender_name,
            token: o.token,
            protocol: o.protocol,
            stream: o
                .stream
                .map_or(core_api::ClientOptions::default().stream, Into::into),
            message_id_prefix: o.message_id_prefix,
            reconnect_base_ms: o.reconnect_base_ms,
            reconnect_max_ms: o.reconnect_max_ms,
        }
    }
}

impl From<core_api::ClientOptions> for ClientOptions {
    fn from(o: core_api::ClientOptions) -> Self {
        ClientOptions {
            sender_id: o.sender_id,
            sender_name: o.sender_name,
            token: o.token,
            protocol: o.protocol,
            stream: Some(o.stream.into()),
            message_id_prefix: o.message_id_prefix,
            reconnect_base_ms: o.reconnect_base_ms,
            reconnect_max_ms: o.reconnect_max_ms,
        }
    }
}

impl TryFrom<SendOptions> for core_api::SendOptions {
    type Error = ClawsocketError;

    fn try_from(m: SendOptions) -> Result<Self, ClawsocketError> {
        let custom_data = match m.custom_data_json {
            None => None,
            Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(map)) => Some(map),
                _ => {
                    return Err(ClawsocketError::Client {
                        code: "invalid_custom_data".to_owned(),
                        detail: "custom data must be a JSON object".to_owned(),
                    })
                }
            },
        };
        Ok(core_api::SendOptions {
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
                .into_iter()
                .map(|a| (a.location, a.mime_type))
                .collect(),
            custom_data,
        })
    }
}

/// The core's default client options (what `ClientOptions()` gives in Kotlin and Swift).
#[uniffi::export]
pub fn default_client_options() -> ClientOptions {
    core_api::ClientOptions::default().into()
}

/// The `chat.send` JSON for a message, for apps that manage their own sending.
#[uniffi::export]
pub fn build_send(message_id: String, message: SendOptions) -> Result<String, ClawsocketError> {
    Ok(core_api::build_send(&message_id, &message.try_into()?))
}

/// The protocol's client side (see the core's `Client`).
#[derive(uniffi::Object)]
pub struct Client {
    inner: Mutex<core_api::Client>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

#[uniffi::export]
impl Client {
    /// A client that is not connected yet: the first `poll_event` asks for a socket.
    #[uniffi::constructor]
    pub fn new(options: ClientOptions) -> Arc<Client> {
        Arc::new(Client {
            inner: Mutex::new(core_api::Client::new(options.into())),
        })
    }

    /// The URL query to connect with, percent-encoded (holds the token: do not log it).
    pub fn connect_query(&self) -> String {
        locked(&self.inner).connect_query()
    }

    /// Queues a `chat.send` for the socket and returns its message id.
    pub fn send(&self, now: u64, message: SendOptions) -> Result<String, ClawsocketError> {
        let message = message.try_into()?;
        Ok(locked(&self.inner).send(now, &message)?)
    }

    /// Asks the server to stop a running reply (`None`: the session's running reply).
    pub fn cancel(&self, message_id: Option<String>) {
        locked(&self.inner).cancel(message_id.as_deref());
    }

    /// Asks for a page of a session's history (`None`: the connection's own session).
    pub fn request_history(&self, session_key: Option<String>, limit: u32, cursor: Option<String>) {
        locked(&self.inner).request_history(session_key.as_deref(), limit, cursor.as_deref());
    }

    /// The socket is open (resumes sessions and resends unacknowledged messages).
    pub fn handle_open(&self, now: u64) {
        locked(&self.inner).handle_open(now);
    }

    /// The socket closed or failed to open, with this close code (1006 when none was given).
    pub fn handle_close(&self, now: u64, code: u16) {
        locked(&self.inner).handle_close(now, code);
    }

    /// No more reconnects.
    pub fn stop(&self) {
        locked(&self.inner).stop();
    }

    /// A text frame from the server.
    pub fn handle_frame(&self, now: u64, text: String) -> Result<(), ClawsocketError> {
        Ok(locked(&self.inner).handle_frame(now, &text)?)
    }

    /// Runs due timers: reconnect and heartbeat ping.
    pub fn handle_timeout(&self, now: u64) {
        locked(&self.inner).handle_timeout(now);
    }

    /// The next frame to write; `None` while the socket is down (frames wait).
    pub fn poll_transmit(&self) -> Option<String> {
        locked(&self.inner).poll_transmit()
    }

    /// The next thing the client learned.
    pub fn poll_event(&self) -> Option<ClientEvent> {
        locked(&self.inner).poll_event().map(ClientEvent::from)
    }

    /// When to call `handle_timeout` (host milliseconds), if anything is scheduled.
    pub fn poll_timeout(&self) -> Option<u64> {
        locked(&self.inner).poll_timeout()
    }

    /// Last seq seen per session, to persist across app restarts.
    pub fn last_seqs(&self) -> Vec<SessionSeq> {
        locked(&self.inner)
            .last_seqs()
            .into_iter()
            .map(|(session_key, seq)| SessionSeq { session_key, seq })
            .collect()
    }

    /// Restores a session's last seen seq after an app restart.
    pub fn set_last_seq(&self, session_key: String, seq: u64) {
        locked(&self.inner).set_last_seq(&session_key, seq);
    }
}
