//! What the core asks of its host ([`Event`]) and what it hands to the network ([`Transmit`]).
//!
//! Every event has a canonical JSON form ([`Event::to_json`]): the shared vectors compare it,
//! the bindings can pass it on as is, and the `exec` agent backend reads a turn from it.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use serde_json::Value;

use crate::media::{Media, MediaKind};
use crate::outbound::ObjectWriter;
use crate::transmits::KEPT_CAPACITY;

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

/// A [`Transmit`] borrowed from the core's outbound buffer ([`crate::Server::poll_transmit_ref`]):
/// valid until the next call on the server, so a host that copies or writes the text right
/// away never needs a `String` of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransmitRef<'a> {
    /// The connection to write to.
    pub connection: ConnectionId,
    /// What to write.
    pub payload: PayloadRef<'a>,
}

/// A [`Payload`] borrowed from the core's outbound buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadRef<'a> {
    /// A text frame (always one JSON object).
    Text(&'a str),
    /// Close the connection with this code and reason; nothing follows it.
    Close {
        /// WebSocket close code.
        code: u16,
        /// Short human-readable reason.
        reason: &'a str,
    },
}

impl TransmitRef<'_> {
    /// The same transmit with its own strings (what [`crate::Server::poll_transmit`] returns).
    pub fn to_transmit(&self) -> Transmit {
        Transmit {
            connection: self.connection,
            payload: match self.payload {
                PayloadRef::Text(text) => Payload::Text(text.into()),
                PayloadRef::Close { code, reason } => Payload::Close {
                    code,
                    reason: reason.into(),
                },
            },
        }
    }
}

/// Direct or group conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChatType {
    /// One sender and the agent (the default, as in the seed).
    #[default]
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
///
/// A turn is cheap to clone: the core keeps the same turn while it runs. Its text fields live
/// one after another in one shared string, so accepting a message allocates once (twice when
/// it carries attachments or `customData`).
#[derive(Clone, PartialEq)]
pub struct Turn {
    text: Arc<str>,
    /// Where each text field ends in `text` (it starts where the one before ends).
    ends: [u32; TEXT_FIELDS],
    id: TurnId,
    connection: ConnectionId,
    received_at: u64,
    chat_type: ChatType,
    authenticated: bool,
    /// Attachments and `customData`, which most messages do not have.
    extras: Option<Arc<TurnExtras>>,
    auth: Option<Arc<Value>>,
}

#[derive(Debug, Clone, PartialEq)]
struct TurnExtras {
    media: Vec<Media>,
    custom_data: Option<Value>,
}

/// A turn's text fields, in the order they are written. Every field is either absent or
/// non-empty, so an empty range means absent. The body is the envelope prefix followed by the
/// content: the content is stored once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextField {
    AgentId,
    SessionKey,
    SenderId,
    SenderName,
    GroupId,
    GroupSubject,
    ReplyToId,
    ReplyToBody,
    /// `[Replying to: "..."]`, a blank line, `<name>: ` (read only as part of the body).
    BodyPrefix,
    Content,
    MessageId,
}

const TEXT_FIELDS: usize = TextField::MessageId as usize + 1;

/// A turn's text being written, every field in [`TextField`] order (absent ones as empty),
/// into a buffer the server reuses from one message to the next.
#[derive(Debug)]
pub(crate) struct TurnText {
    text: String,
    ends: [u32; TEXT_FIELDS],
}

impl TurnText {
    /// Starts a turn's text in `buffer` (emptied first; its capacity is what is reused).
    pub(crate) fn new(mut buffer: String) -> TurnText {
        if buffer.capacity() > KEPT_CAPACITY {
            buffer = String::new(); // one very long message does not keep its memory for good
        }
        buffer.clear();
        TurnText {
            text: buffer,
            ends: [0; TEXT_FIELDS],
        }
    }

    /// Writes `field`: every field once, in order.
    #[inline(always)]
    pub(crate) fn push(&mut self, field: TextField, value: &str) {
        self.push_with(field, |text| text.push_str(value));
    }

    /// Writes `field` as whatever `write` appends.
    #[inline(always)]
    pub(crate) fn push_with(&mut self, field: TextField, write: impl FnOnce(&mut String)) {
        debug_assert!(
            field == TextField::AgentId
                || self.ends[field as usize - 1] as usize == self.text.len(),
            "turn text written out of order"
        );
        write(&mut self.text);
        // Frames are far below 4 GiB (the core limits them), so offsets fit in u32.
        self.ends[field as usize] = self.text.len() as u32;
    }

    /// Writes `field`, empty when absent.
    #[inline(always)]
    pub(crate) fn push_opt(&mut self, field: TextField, value: Option<&str>) {
        match value {
            Some(value) => self.push(field, value),
            None => self.ends[field as usize] = self.text.len() as u32,
        }
    }

    /// A field written so far.
    #[inline]
    pub(crate) fn get(&self, field: TextField) -> Option<&str> {
        field_text(&self.text, &self.ends, field, field)
    }

    /// The turn's shared text and field ends, and the buffer back for the next message.
    fn finish(self) -> (Arc<str>, [u32; TEXT_FIELDS], String) {
        debug_assert_eq!(self.ends[TEXT_FIELDS - 1] as usize, self.text.len());
        (Arc::from(self.text.as_str()), self.ends, self.text)
    }
}

/// The text from the start of `first` to the end of `last`; `None` when empty.
#[inline]
fn field_text<'t>(
    text: &'t str,
    ends: &[u32; TEXT_FIELDS],
    first: TextField,
    last: TextField,
) -> Option<&'t str> {
    let start = match (first as usize).checked_sub(1) {
        Some(before) => *ends.get(before)?,
        None => 0,
    };
    let end = *ends.get(last as usize)?;
    if start == end {
        return None;
    }
    text.get(start as usize..end as usize)
}

/// What a turn is made of besides its text (see [`Turn::new`]).
#[derive(Debug)]
pub(crate) struct TurnParts {
    pub(crate) id: TurnId,
    pub(crate) chat_type: ChatType,
    pub(crate) authenticated: bool,
    pub(crate) connection: ConnectionId,
    pub(crate) received_at: u64,
    pub(crate) media: Vec<Media>,
    pub(crate) custom_data: Option<Value>,
    pub(crate) auth: Option<Arc<Value>>,
}

impl Turn {
    /// A turn from its text and parts; returns the text's buffer for reuse.
    pub(crate) fn new(text: TurnText, parts: TurnParts) -> (Turn, String) {
        let (text, ends, buffer) = text.finish();
        let extras = (!parts.media.is_empty() || parts.custom_data.is_some()).then(|| {
            Arc::new(TurnExtras {
                media: parts.media,
                custom_data: parts.custom_data,
            })
        });
        let turn = Turn {
            text,
            ends,
            id: parts.id,
            connection: parts.connection,
            received_at: parts.received_at,
            chat_type: parts.chat_type,
            authenticated: parts.authenticated,
            extras,
            auth: parts.auth,
        };
        (turn, buffer)
    }

    #[inline]
    fn field(&self, field: TextField) -> Option<&str> {
        field_text(&self.text, &self.ends, field, field)
    }

    /// Handle for the agent output inputs.
    pub fn id(&self) -> TurnId {
        self.id
    }
    /// `agent:<agentId>:websocket:<direct|group>:<id>`.
    #[inline]
    pub fn session_key(&self) -> &str {
        self.field(TextField::SessionKey).unwrap_or_default()
    }
    /// Agent that should answer.
    pub fn agent_id(&self) -> &str {
        self.field(TextField::AgentId).unwrap_or_default()
    }
    /// The client's `messageId`, or one the core generated (`msg-<n>`).
    #[inline]
    pub fn message_id(&self) -> &str {
        self.field(TextField::MessageId).unwrap_or_default()
    }
    /// Direct or group.
    pub fn chat_type(&self) -> ChatType {
        self.chat_type
    }
    /// Sender identity (authenticated `userId` when there is one).
    #[inline]
    pub fn sender_id(&self) -> &str {
        self.field(TextField::SenderId).unwrap_or_default()
    }
    /// Display name, when known.
    pub fn sender_name(&self) -> Option<&str> {
        self.field(TextField::SenderName)
    }
    /// Whether `sender_id` was verified by the auth service.
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }
    /// Group id for group chats.
    pub fn group_id(&self) -> Option<&str> {
        self.field(TextField::GroupId)
    }
    /// Group subject for group chats, when given.
    pub fn group_subject(&self) -> Option<&str> {
        self.field(TextField::GroupSubject)
    }
    /// The text for the agent, built as the seed does: `[Replying to: "..."]`, blank line,
    /// `<name>: <content>`.
    pub fn body(&self) -> &str {
        field_text(
            &self.text,
            &self.ends,
            TextField::BodyPrefix,
            TextField::Content,
        )
        .unwrap_or_default()
    }
    /// The message text as the client sent it.
    pub fn content(&self) -> &str {
        self.field(TextField::Content).unwrap_or_default()
    }
    /// Quoted message id, when replying.
    pub fn reply_to_id(&self) -> Option<&str> {
        self.field(TextField::ReplyToId)
    }
    /// Quoted message text, when replying.
    pub fn reply_to_body(&self) -> Option<&str> {
        self.field(TextField::ReplyToBody)
    }
    /// Accepted attachments (locations as the client sent them: the host resolves paths).
    pub fn media(&self) -> &[Media] {
        self.extras.as_ref().map_or(&[], |e| &e.media)
    }
    /// The client's `customData` object.
    pub fn custom_data(&self) -> Option<&Value> {
        self.extras.as_ref()?.custom_data.as_ref()
    }
    /// The auth service's `data` object.
    pub fn auth(&self) -> Option<&Value> {
        self.auth.as_deref()
    }
    /// The connection the message came in on.
    pub fn connection(&self) -> ConnectionId {
        self.connection
    }
    /// `now` when the message was accepted.
    pub fn received_at(&self) -> u64 {
        self.received_at
    }

    /// The same turn with other attachments: the host resolves media paths before running it
    /// (the core keeps the locations the client sent).
    #[must_use]
    pub fn with_media(&self, media: Vec<Media>) -> Turn {
        let custom_data = self.custom_data().cloned();
        let extras = (!media.is_empty() || custom_data.is_some())
            .then(|| Arc::new(TurnExtras { media, custom_data }));
        Turn {
            extras,
            ..self.clone()
        }
    }

    /// The canonical JSON form (the `exec` backend's stdin, the bindings' turn context).
    pub fn to_json(&self) -> String {
        let mut media = String::from("[");
        for (i, m) in self.media().iter().enumerate() {
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
        let mut w = ObjectWriter::object(256 + self.body().len() * 2)
            .u64("turnId", self.id().0)
            .str("sessionKey", self.session_key())
            .str("agentId", self.agent_id())
            .str("messageId", self.message_id())
            .str("chatType", self.chat_type().as_str())
            .str("senderId", self.sender_id())
            .opt_str("senderName", self.sender_name())
            .bool("authenticated", self.authenticated())
            .opt_str("groupId", self.group_id())
            .opt_str("groupSubject", self.group_subject())
            .str("body", self.body())
            .str("content", self.content());
        if self.reply_to_id().is_some() || self.reply_to_body().is_some() {
            let reply = ObjectWriter::object(32)
                .opt_str("messageId", self.reply_to_id())
                .opt_str("body", self.reply_to_body())
                .finish();
            w = w.raw("replyTo", &reply);
        }
        w = w.raw("media", &media);
        if let Some(data) = self.custom_data() {
            w = w.raw("customData", &json_value(data));
        }
        if let Some(data) = self.auth() {
            w = w.raw("auth", &json_value(data));
        }
        let mut conn = String::new();
        let _ = fmt::Write::write_fmt(&mut conn, format_args!("{}", self.connection()));
        w.str("connectionId", &conn)
            .u64("receivedAt", self.received_at())
            .finish()
    }
}

impl fmt::Debug for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turn")
            .field("id", &self.id())
            .field("session_key", &self.session_key())
            .field("agent_id", &self.agent_id())
            .field("message_id", &self.message_id())
            .field("chat_type", &self.chat_type())
            .field("sender_id", &self.sender_id())
            .field("sender_name", &self.sender_name())
            .field("authenticated", &self.authenticated())
            .field("group_id", &self.group_id())
            .field("group_subject", &self.group_subject())
            .field("body", &self.body())
            .field("content", &self.content())
            .field("reply_to_id", &self.reply_to_id())
            .field("reply_to_body", &self.reply_to_body())
            .field("media", &self.media())
            .field("custom_data", &self.custom_data())
            .field("auth", &self.auth())
            .field("connection", &self.connection())
            .field("received_at", &self.received_at())
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
    RunTurn(Turn),
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
                .field("turn", &t.id())
                .field("session_key", &t.session_key())
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
