//! Stable, machine-readable error codes carried by every `chat.error` frame.
//!
//! The human text (`error`) may change; the `code` never does. Seed-compatible texts are kept
//! where the original plugin had one, so a client that matches on the text keeps working.

use core::fmt;

/// Why a peer's input was refused or a turn failed. Serialised as the snake_case `code` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The text frame is not JSON.
    InvalidJson,
    /// The text frame is not valid UTF-8.
    InvalidUtf8,
    /// A binary frame arrived; the protocol is text-only.
    BinaryFrame,
    /// The frame is JSON but not an object with a known `type`.
    UnknownType,
    /// A known field has the wrong JSON type or an unusable value.
    InvalidField,
    /// `content` is missing or empty.
    EmptyContent,
    /// The frame exceeds `limits.maxFrameBytes`.
    FrameTooLarge,
    /// `content` exceeds `limits.maxContentChars`.
    ContentTooLarge,
    /// `chatType` is `group` but `groupId` is missing.
    MissingGroupId,
    /// A frame's `senderId` differs from the authenticated identity.
    IdentityMismatch,
    /// A media reference is neither an http(s) URL nor a safe relative path.
    InvalidMedia,
    /// Auth is required and the URL carried no token.
    AuthRequired,
    /// The auth service rejected the token (or answered something unusable).
    AuthFailed,
    /// The auth service did not answer within `auth.timeout`.
    AuthTimeout,
    /// The auth service could not be reached.
    AuthUnavailable,
    /// Too many frames arrived while the connection was still being verified.
    TooManyPending,
    /// The dm policy does not allow this sender.
    NotAllowed,
    /// The dm policy is `pairing` and this sender is not approved yet.
    PairingRequired,
    /// The session is busy and its queue is full (or the busy policy is `reject`).
    Busy,
    /// The agent failed while producing the reply.
    AgentError,
    /// The connection is over its message rate.
    RateLimited,
    /// A `chat.resume` asked for frames the replay buffer no longer holds.
    ResumeGap,
    /// A `chat.cancel` named no running or queued reply.
    NotFound,
    /// The agent produced nothing before its deadline.
    AgentTimeout,
    /// The host could not serve a history page.
    HistoryUnavailable,
    /// A v2 frame arrived on a connection that did not negotiate v2.
    UnsupportedVersion,
}

impl ErrorCode {
    /// Every code, in documentation order (used by docs and exhaustive tests).
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidJson,
        ErrorCode::InvalidUtf8,
        ErrorCode::BinaryFrame,
        ErrorCode::UnknownType,
        ErrorCode::InvalidField,
        ErrorCode::EmptyContent,
        ErrorCode::FrameTooLarge,
        ErrorCode::ContentTooLarge,
        ErrorCode::MissingGroupId,
        ErrorCode::IdentityMismatch,
        ErrorCode::InvalidMedia,
        ErrorCode::AuthRequired,
        ErrorCode::AuthFailed,
        ErrorCode::AuthTimeout,
        ErrorCode::AuthUnavailable,
        ErrorCode::TooManyPending,
        ErrorCode::NotAllowed,
        ErrorCode::PairingRequired,
        ErrorCode::Busy,
        ErrorCode::AgentError,
        ErrorCode::RateLimited,
        ErrorCode::ResumeGap,
        ErrorCode::NotFound,
        ErrorCode::AgentTimeout,
        ErrorCode::HistoryUnavailable,
        ErrorCode::UnsupportedVersion,
    ];

    /// The wire form of the code.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::BinaryFrame => "binary_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::EmptyContent => "empty_content",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::ContentTooLarge => "content_too_large",
            ErrorCode::MissingGroupId => "missing_group_id",
            ErrorCode::IdentityMismatch => "identity_mismatch",
            ErrorCode::InvalidMedia => "invalid_media",
            ErrorCode::AuthRequired => "auth_required",
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::AuthTimeout => "auth_timeout",
            ErrorCode::AuthUnavailable => "auth_unavailable",
            ErrorCode::TooManyPending => "too_many_pending",
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::PairingRequired => "pairing_required",
            ErrorCode::Busy => "busy",
            ErrorCode::AgentError => "agent_error",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ResumeGap => "resume_gap",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AgentTimeout => "agent_timeout",
            ErrorCode::HistoryUnavailable => "history_unavailable",
            ErrorCode::UnsupportedVersion => "unsupported_version",
        }
    }

    /// Parses the wire form; `None` for codes this version does not know.
    pub fn from_wire(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// Whether sending the same thing again later can succeed.
    pub const fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::AuthTimeout
                | ErrorCode::AuthUnavailable
                | ErrorCode::TooManyPending
                | ErrorCode::Busy
                | ErrorCode::RateLimited
                | ErrorCode::AgentTimeout
                | ErrorCode::HistoryUnavailable
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Misuse of the core's API by the host (never caused by a peer's bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// The connection id is not (or no longer) known.
    UnknownConnection,
    /// The turn id is not (or no longer) running.
    UnknownTurn,
    /// The connection is not waiting for an auth answer.
    NotAwaitingAuth,
    /// No pending pairing request has this code.
    UnknownPairingCode,
    /// No history request with this id is outstanding.
    UnknownRequest,
    /// Restored state could not be read.
    InvalidState,
}

impl UsageError {
    /// A stable short name, used by the bindings as their error code.
    pub const fn as_str(&self) -> &'static str {
        match self {
            UsageError::UnknownConnection => "unknown_connection",
            UsageError::UnknownTurn => "unknown_turn",
            UsageError::NotAwaitingAuth => "not_awaiting_auth",
            UsageError::UnknownPairingCode => "unknown_pairing_code",
            UsageError::UnknownRequest => "unknown_request",
            UsageError::InvalidState => "invalid_state",
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            UsageError::UnknownConnection => "unknown connection id",
            UsageError::UnknownTurn => "unknown or finished turn id",
            UsageError::NotAwaitingAuth => "connection is not waiting for an auth answer",
            UsageError::UnknownPairingCode => "no pending pairing request has this code",
            UsageError::UnknownRequest => "no outstanding request has this id",
            UsageError::InvalidState => "restored state is not valid",
        };
        f.write_str(text)
    }
}

impl core::error::Error for UsageError {}
