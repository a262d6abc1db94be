//! What the core asks of its host ([`Event`]) and what it hands to the network ([`Transmit`]).
//!
//! Every event has a canonical JSON form ([`Event::to_json`]): the shared vectors compare it,
//! the bindings can pass it on as is, and the `exec` agent backend reads a turn from it.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde_json::Value;

use crate::media::{Media, MediaKind};
use crate::outbound::ObjectWriter;

/// A connection, numbered by the core from 1 in accept order. Renders as `conn-<n>`, which is
/// also the identity of a connection that gave no `senderId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// A turn (one accepted message and its reply), numbered by the core from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TurnId(pub u64);

impl fmt::Display for TurnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "turn-{}", self.0)
    }
}

/// Something to put on one connection's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The connection to write to.
    pub connection: ConnectionId,
    /// What to write.
    pub payload: Payload,
}

/// A WebSocket message or the closing handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A text frame (always one JSON object).
    Text(String),
    /// Close the connection with this code and reason; nothing follows it.
    Close {
        /// WebSocket close code (4401 for auth, 4408 for timeouts, 4429 for flooding...).
        code: u16,
        /// Short human-readable reason.
        reason: String,
    },
}

/// Direct or group conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatType {
    /// One sender and the agent.
    Direct,
    /// A group, shared by everyone who writes to its `groupId`.
    Group,
}

impl ChatType {
    /// Wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChatType::Direct => "direct",
            ChatType::Group => "group",
        }
    }
}

/// Everything an agent needs to produce one reply. Client-controlled data (`custom_data`) and
/// auth-service data (`auth`) stay in their own fields: neither can overwrite a context field.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Handle for the agent output inputs.
    pub id: TurnId,
    /// `agent:<agentId>:websocket:<direct|group>:<id>`.
    pub session_key: String,
    /// Agent that should answer.
    pub agent_id: String,
    /// The client's `messageId`, or one the core generated (`msg-<n>`).
    pub message_id: String,
    /// Direct or group.
    pub chat_type: ChatType,
    /// Sender identity (authenticated `userId` when there is one).
    pub sender_id: String,
    /// Display name, when known.
    pub sender_name: Option<String>,
    /// Whether `sender_id` was verified by the auth service.
    pub authenticated: bool,
    /// Group id for group chats.
    pub group_id: Option<String>,
    /// Group subject for group chats, when given.
    pub group_subject: Option<String>,
    /// The text for the agent, built as the seed does: `[Replying to: "..."]`, blank line,
    /// `<name>: <content>`.
    pub body: String,
    /// The message text as the client sent it.
    pub content: String,
    /// Quoted message id, when replying.
    pub reply_to_id: Option<String>,
    /// Quoted message text, when replying.
    pub reply_to_body: Option<String>,
    /// Accepted attachments.
    pub media: Vec<Media>,
    /// The client's `customData` object.
    pub custom_data: Option<Value>,
    /// The auth service's `data` object.
    pub auth: Option<Value>,
    /// The connection the message came in on.
    pub connection: ConnectionId,
    /// `now` when the message was accepted.
    pub received_at: u64,
}

impl Turn {
    /// The canonical JSON form (the `exec` backend's stdin, the bindings' turn context).
    pub fn to_json(&self) -> String {
        let mut media = String::from("[");
        for (i, m) in self.media.iter().enumerate() {
            if i > 0 {
                media.push(',');
            }
            let key = match m.kind {
                MediaKind::Url => "url",
                MediaKind::Path => "path",
            };
            media.push_str(
                &ObjectWriter::object(32 + m.location.len())
                    .str(key, &m.location)
                    .opt_str("mimeType", m.mime_type.as_deref())
                    .finish(),
            );
        }
        media.push(']');
        let mut w = ObjectWriter::object(256 + self.body.len() * 2)
            .u64("turnId", self.id.0)
            .str("sessionKey", &self.session_key)
            .str("agentId", &self.agent_id)
            .str("messageId", &self.message_id)
            .str("chatType", self.chat_type.as_str())
            .str("senderId", &self.sender_id)
            .opt_str("senderName", self.sender_name.as_deref())
            .bool("authenticated", self.authenticated)
            .opt_str("groupId", self.group_id.as_deref())
            .opt_str("groupSubject", self.group_subject.as_deref())
            .str("body", &self.body)
            .str("content", &self.content);
        if self.reply_to_id.is_some() || self.reply_to_body.is_some() {
            let reply = ObjectWriter::object(32)
                .opt_str("messageId", self.reply_to_id.as_deref())
                .opt_str("body", self.reply_to_body.as_deref())
                .finish();
            w = w.raw("replyTo", &reply);
        }
        w = w.raw("media", &media);
        if let Some(data) = &self.custom_data {
            w = w.raw("customData", &json_value(data));
        }
        if let Some(data) = &self.auth {
            w = w.raw("auth", &json_value(data));
        }
        let mut conn = String::new();
        let _ = fmt::Write::write_fmt(&mut conn, format_args!("{}", self.connection));
        w.str("connectionId", &conn)
            .u64("receivedAt", self.received_at)
            .finish()
    }
}

fn json_value(value: &Value) -> String {
    // Serialising a Value cannot fail (keys are strings, numbers are finite).
    serde_json::to_string(value).unwrap_or_else(|_| String::from("null"))
}

/// A direct sender got a dynamic agent: the host creates its workspace and agent directory.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentProvision {
    /// `ws-<senderId>`, safe as a directory name.
    pub agent_id: String,
    /// The sender the agent belongs to (`{userId}` in templates).
    pub user_id: String,
    /// Display name, when known (for `user-profile.md`).
    pub user_name: Option<String>,
    /// Auth-service data, when the sender was authenticated (for `user-profile.md`).
    pub auth: Option<Value>,
}

/// Why a running reply was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// A client sent `chat.cancel`.
    Requested,
    /// A newer message interrupted it (`busyPolicy: interrupt`).
    Interrupted,
    /// The agent was silent past `timing.agentTimeoutMs`.
    TimedOut,
    /// The host is shutting down.
    Shutdown,
}

impl CancelReason {
    /// Wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            CancelReason::Requested => "requested",
            CancelReason::Interrupted => "interrupted",
            CancelReason::TimedOut => "timed_out",
            CancelReason::Shutdown => "shutdown",
        }
    }
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The agent finished.
    Completed,
    /// The reply was stopped; the text is what had been produced.
    Cancelled,
    /// The agent failed or timed out; the text is the error message.
    Failed,
}

impl Outcome {
    /// Wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
        }
    }
}

/// A request from the core to its host, drained with `Server::poll_event`.
#[derive(Clone, PartialEq)]
pub enum Event {
    /// POST `request` (JSON) to `auth.endpoint`, then call `handle_auth_response` or
    /// `handle_auth_unavailable`. The core enforces `auth.timeout` itself.
    VerifyToken {
        /// Connection being verified.
        connection: ConnectionId,
        /// The JSON body: every URL parameter, plus `tokenType`.
        request: String,
    },
    /// Create the workspace of a new dynamic agent (before running its first turn).
    ProvisionAgent(Box<AgentProvision>),
    /// Run this turn on its agent and feed the output back with `handle_agent_*`.
    RunTurn(Box<Turn>),
    /// Stop the agent of this turn; its frames are already final, later output is ignored.
    CancelTurn {
        /// The turn to stop.
        turn: TurnId,
        /// Why.
        reason: CancelReason,
    },
    /// A turn ended (for the host's history store).
    TurnFinished {
        /// The turn.
        turn: TurnId,
        /// Its session.
        session_key: String,
        /// Its message id.
        message_id: String,
        /// How it ended.
        outcome: Outcome,
        /// Final reply text (completed, cancelled) or error text (failed).
        text: String,
    },
    /// A sender needs operator approval (`dmPolicy: pairing`).
    PairingRequested {
        /// Code the operator approves.
        code: String,
        /// Sender waiting for approval.
        sender_id: String,
        /// Their display name, when known.
        sender_name: Option<String>,
    },
    /// A pairing code was approved; the host should persist the sender (see `Server::allow_sender`).
    PairingApproved {
        /// The approved code.
        code: String,
        /// The sender now allowed.
        sender_id: String,
    },
    /// Fetch a page of a session's history and answer with `handle_history`.
    FetchHistory {
        /// Id to answer with.
        request: u64,
        /// Session whose history is wanted.
        session_key: String,
        /// Most messages to return.
        limit: u32,
        /// Opaque cursor from a previous page (older messages), or none for the newest.
        cursor: Option<String>,
    },
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The request carries the token: never let a `{:?}` put it in a log.
            Event::VerifyToken { connection, .. } => f
                .debug_struct("VerifyToken")
                .field("connection", connection)
                .field("request", &"<redacted>")
                .finish(),
            Event::ProvisionAgent(p) => f.debug_tuple("ProvisionAgent").field(&p.agent_id).finish(),
            Event::RunTurn(t) => f
                .debug_struct("RunTurn")
                .field("turn", &t.id)
                .field("session_key", &t.session_key)
                .finish(),
            Event::CancelTurn { turn, reason } => f
                .debug_struct("CancelTurn")
                .field("turn", turn)
                .field("reason", reason)
                .finish(),
            Event::TurnFinished { turn, outcome, .. } => f
                .debug_struct("TurnFinished")
                .field("turn", turn)
                .field("outcome", outcome)
                .finish(),
            Event::PairingRequested {
                code, sender_id, ..
            } => f
                .debug_struct("PairingRequested")
                .field("code", code)
                .field("sender_id", sender_id)
                .finish(),
            Event::PairingApproved { code, sender_id } => f
                .debug_struct("PairingApproved")
                .field("code", code)
                .field("sender_id", sender_id)
                .finish(),
            Event::FetchHistory {
                request,
                session_key,
                ..
            } => f
                .debug_struct("FetchHistory")
                .field("request", request)
                .field("session_key", session_key)
                .finish(),
        }
    }
}

impl Event {
    /// The event's kind as written in its JSON form.
    pub const fn kind(&self) -> &'static str {
        match self {
            Event::VerifyToken { .. } => "verify_token",
            Event::ProvisionAgent(_) => "provision_agent",
            Event::RunTurn(_) => "run_turn",
            Event::CancelTurn { .. } => "cancel_turn",
            Event::TurnFinished { .. } => "turn_finished",
            Event::PairingRequested { .. } => "pairing_requested",
            Event::PairingApproved { .. } => "pairing_approved",
            Event::FetchHistory { .. } => "fetch_history",
        }
    }

    /// Canonical JSON: `{"event":"<kind>", ...fields}`.
    pub fn to_json(&self) -> String {
        let w = ObjectWriter::object(64).str("event", self.kind());
        match self {
            Event::VerifyToken {
                connection,
                request,
            } => w
                .u64("connection", connection.0)
                .raw("request", request)
                .finish(),
            Event::ProvisionAgent(p) => {
                let mut w = w
                    .str("agentId", &p.agent_id)
                    .str("userId", &p.user_id)
                    .opt_str("userName", p.user_name.as_deref());
                if let Some(auth) = &p.auth {
                    w = w.raw("auth", &json_value(auth));
                }
                w.finish()
            }
            Event::RunTurn(turn) => w.raw("turn", &turn.to_json()).finish(),
            Event::CancelTurn { turn, reason } => w
                .u64("turn", turn.0)
                .str("reason", reason.as_str())
                .finish(),
            Event::TurnFinished {
                turn,
                session_key,
                message_id,
                outcome,
                text,
            } => w
                .u64("turn", turn.0)
                .str("sessionKey", session_key)
                .str("messageId", message_id)
                .str("outcome", outcome.as_str())
                .str("text", text)
                .finish(),
            Event::PairingRequested {
                code,
                sender_id,
                sender_name,
            } => w
                .str("code", code)
                .str("senderId", sender_id)
                .opt_str("senderName", sender_name.as_deref())
                .finish(),
            Event::PairingApproved { code, sender_id } => {
                w.str("code", code).str("senderId", sender_id).finish()
            }
            Event::FetchHistory {
                request,
                session_key,
                limit,
                cursor,
            } => w
                .u64("request", *request)
                .str("sessionKey", session_key)
                .u64("limit", u64::from(*limit))
                .opt_str("cursor", cursor.as_deref())
                .finish(),
        }
    }
}
