//! The server's requests to its host (`poll_event`), as a uniffi object that keeps the core's
//! canonical JSON next to a typed view. An object rather than a record so that the token in a
//! verify request cannot end up in a log through a generated `toString`/`description`.

use std::fmt;
use std::sync::Arc;

use clawsocket_core as core_api;

/// One request from the server state machine to its host.
#[derive(uniffi::Object)]
pub struct ServerEvent {
    event: core_api::Event,
}

impl fmt::Debug for ServerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The core's Debug already redacts the verify request.
        fmt::Debug::fmt(&self.event, f)
    }
}

impl ServerEvent {
    pub(crate) fn new(event: core_api::Event) -> Arc<ServerEvent> {
        Arc::new(ServerEvent { event })
    }
}

#[uniffi::export]
impl ServerEvent {
    /// The event's kind as written in its JSON form (`run_turn`, `verify_token`, ...).
    pub fn kind(&self) -> String {
        self.event.kind().to_owned()
    }

    /// The canonical JSON form, byte for byte what every binding and the shared vectors see.
    /// Holds the verify request (and so the token) for `verify_token`: do not log it.
    pub fn to_json(&self) -> String {
        self.event.to_json()
    }

    /// The typed view of the event.
    pub fn detail(&self) -> ServerEventDetail {
        ServerEventDetail::from(&self.event)
    }
}

/// The JSON body to POST to the auth endpoint. Kept behind an object so it is never printed
/// by accident: call `body()` only to send it.
#[derive(uniffi::Object)]
pub struct AuthRequest {
    body: String,
}

impl fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthRequest(<redacted>)")
    }
}

#[uniffi::export]
impl AuthRequest {
    /// The request body (every URL parameter plus `tokenType`, as JSON).
    pub fn body(&self) -> String {
        self.body.clone()
    }
}

/// Typed view of a [`ServerEvent`]; see the core's `Event` for what the host does with each.
// Built only to be lowered across the FFI at once, so its size does not matter (and uniffi
// has no Box<Record> to shrink it with).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, uniffi::Enum)]
pub enum ServerEventDetail {
    /// POST `request.body()` to `auth.endpoint`, then call `handle_auth_response` or
    /// `handle_auth_unavailable`.
    VerifyToken {
        /// Connection being verified.
        connection: u64,
        /// The request body.
        request: Arc<AuthRequest>,
    },
    /// Create the workspace of a new dynamic agent before running its first turn.
    ProvisionAgent {
        /// `ws-<senderId>`.
        agent_id: String,
        /// The sender the agent belongs to.
        user_id: String,
        /// Display name, when known.
        user_name: Option<String>,
        /// Auth-service data as JSON, when the sender was authenticated.
        auth_json: Option<String>,
    },
    /// Run this turn on its agent and feed the output back with `handle_agent_*`.
    RunTurn {
        /// The turn.
        turn: Turn,
    },
    /// Stop the agent of this turn; later output for it is ignored.
    CancelTurn {
        /// The turn to stop.
        turn: u64,
        /// Why.
        reason: CancelReason,
    },
    /// A turn ended (for the host's history store).
    TurnFinished {
        /// The turn.
        turn: u64,
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
        /// Display name, when known.
        sender_name: Option<String>,
    },
    /// A pairing code was approved; persist the sender (restore it with `allow_sender`).
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
        /// Cursor from a previous page, or none for the newest.
        cursor: Option<String>,
    },
}

/// Everything an agent needs to produce one reply.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Turn {
    /// Handle for the `handle_agent_*` inputs.
    pub id: u64,
    /// `agent:<agentId>:websocket:<direct|group>:<id>`.
    pub session_key: String,
    /// Agent that should answer.
    pub agent_id: String,
    /// The client's message id, or one the core generated.
    pub message_id: String,
    /// Direct or group.
    pub chat_type: ChatType,
    /// Sender identity (the authenticated user id when there is one).
    pub sender_id: String,
    /// Display name, when known.
    pub sender_name: Option<String>,
    /// Whether the auth service verified `sender_id`.
    pub authenticated: bool,
    /// Group id for group chats.
    pub group_id: Option<String>,
    /// Group subject, when given.
    pub group_subject: Option<String>,
    /// The text for the agent (`<name>: <content>`, with the quoted message when replying).
    pub body: String,
    /// The message text as the client sent it.
    pub content: String,
    /// Quoted message id, when replying.
    pub reply_to_id: Option<String>,
    /// Quoted message text, when replying.
    pub reply_to_body: Option<String>,
    /// Accepted attachments.
    pub media: Vec<MediaRef>,
    /// The client's `customData` object as JSON.
    pub custom_data_json: Option<String>,
    /// The auth service's `data` object as JSON.
    pub auth_json: Option<String>,
    /// The connection the message came in on.
    pub connection: u64,
    /// `now` when the message was accepted.
    pub received_at: u64,
    /// The turn's canonical JSON (what the `exec` agent backend reads).
    pub json: String,
}

/// An accepted media attachment.
#[derive(Debug, Clone, uniffi::Record)]
pub struct MediaRef {
    /// URL or relative path.
    pub kind: MediaKind,
    /// The reference as the client sent it.
    pub location: String,
    /// MIME type, when given.
    pub mime_type: Option<String>,
}

/// How a media reference names its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MediaKind {
    /// An http(s) URL.
    Url,
    /// A relative path the host resolves under its media root.
    Path,
}

/// Direct or group conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChatType {
    /// One sender and the agent.
    Direct,
    /// A group.
    Group,
}

/// Why a running reply was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CancelReason {
    /// A client sent `chat.cancel`.
    Requested,
    /// A newer message interrupted it.
    Interrupted,
    /// The agent was silent too long.
    TimedOut,
    /// The host is shutting down.
    Shutdown,
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Outcome {
    /// The agent finished.
    Completed,
    /// The reply was stopped.
    Cancelled,
    /// The agent failed or timed out.
    Failed,
}

fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

impl From<&core_api::Event> for ServerEventDetail {
    fn from(event: &core_api::Event) -> Self {
        use core_api::Event as E;
        match event {
            E::VerifyToken {
                connection,
                request,
            } => ServerEventDetail::VerifyToken {
                connection: connection.0,
                request: Arc::new(AuthRequest {
                    body: request.clone(),
                }),
            },
            E::ProvisionAgent(p) => ServerEventDetail::ProvisionAgent {
                agent_id: p.agent_id.clone(),
                user_id: p.user_id.clone(),
                user_name: p.user_name.clone(),
                auth_json: p.auth.as_ref().map(json_text),
            },
            E::RunTurn(turn) => ServerEventDetail::RunTurn {
                turn: Turn::from(turn),
            },
            E::CancelTurn { turn, reason } => ServerEventDetail::CancelTurn {
                turn: turn.0,
                reason: (*reason).into(),
            },
            E::TurnFinished {
                turn,
                session_key,
                message_id,
                outcome,
                text,
            } => ServerEventDetail::TurnFinished {
                turn: turn.0,
                session_key: session_key.clone(),
                message_id: message_id.clone(),
                outcome: (*outcome).into(),
                text: text.clone(),
            },
            E::PairingRequested {
                code,
                sender_id,
                sender_name,
            } => ServerEventDetail::PairingRequested {
                code: code.clone(),
                sender_id: sender_id.clone(),
                sender_name: sender_name.clone(),
            },
            E::PairingApproved { code, sender_id } => ServerEventDetail::PairingApproved {
                code: code.clone(),
                sender_id: sender_id.clone(),
            },
            E::FetchHistory {
                request,
                session_key,
                limit,
                cursor,
            } => ServerEventDetail::FetchHistory {
                request: *request,
                session_key: session_key.clone(),
                limit: *limit,
                cursor: cursor.clone(),
            },
        }
    }
}

impl From<&core_api::Turn> for Turn {
    fn from(t: &core_api::Turn) -> Self {
        Turn {
            id: t.id().0,
            session_key: t.session_key().to_owned(),
            agent_id: t.agent_id().to_owned(),
            message_id: t.message_id().to_owned(),
            chat_type: t.chat_type().into(),
            sender_id: t.sender_id().to_owned(),
            sender_name: t.sender_name().map(str::to_owned),
            authenticated: t.authenticated(),
            group_id: t.group_id().map(str::to_owned),
            group_subject: t.group_subject().map(str::to_owned),
            body: t.body().to_owned(),
            content: t.content().to_owned(),
            reply_to_id: t.reply_to_id().map(str::to_owned),
            reply_to_body: t.reply_to_body().map(str::to_owned),
            media: t
                .media()
                .iter()
                .map(|m| MediaRef {
                    kind: m.kind.into(),
                    location: m.location.clone(),
                    mime_type: m.mime_type.clone(),
                })
                .collect(),
            custom_data_json: t.custom_data().map(json_text),
            auth_json: t.auth().map(json_text),
            connection: t.connection().0,
            received_at: t.received_at(),
            json: t.to_json(),
        }
    }
}

impl From<core_api::MediaKind> for MediaKind {
    fn from(k: core_api::MediaKind) -> Self {
        match k {
            core_api::MediaKind::Url => MediaKind::Url,
            core_api::MediaKind::Path => MediaKind::Path,
        }
    }
}

impl From<core_api::ChatType> for ChatType {
    fn from(c: core_api::ChatType) -> Self {
        match c {
            core_api::ChatType::Direct => ChatType::Direct,
            core_api::ChatType::Group => ChatType::Group,
        }
    }
}

impl From<core_api::CancelReason> for CancelReason {
    fn from(r: core_api::CancelReason) -> Self {
        match r {
            core_api::CancelReason::Requested => CancelReason::Requested,
            core_api::CancelReason::Interrupted => CancelReason::Interrupted,
            core_api::CancelReason::TimedOut => CancelReason::TimedOut,
            core_api::CancelReason::Shutdown => CancelReason::Shutdown,
        }
    }
}

impl From<core_api::Outcome> for Outcome {
    fn from(o: core_api::Outcome) -> Self {
        match o {
            core_api::Outcome::Completed => Outcome::Completed,
            core_api::Outcome::Cancelled => Outcome::Cancelled,
            core_api::Outcome::Failed => Outcome::Failed,
        }
    }
}
