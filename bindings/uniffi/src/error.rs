//! The one error type of the bindings (`ClawsocketException` in Kotlin, `ClawsocketError` in
//! Swift). Only API misuse is an error: anything a peer sends becomes a `chat.error` frame.

use std::fmt;

/// Why a call was refused. `code` is the core's stable, machine-readable name.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum ClawsocketError {
    /// The host misused the server API (`unknown_connection`, `unknown_turn`,
    /// `unknown_request`, `unknown_pairing_code`, `not_awaiting_auth`, `invalid_state`).
    Usage {
        /// Stable code.
        code: String,
        /// Human-readable text.
        detail: String,
    },
    /// The client refused a call or could not read a server frame (`empty_content`,
    /// `invalid_frame`), or an argument was unusable (`invalid_custom_data`).
    Client {
        /// Stable code.
        code: String,
        /// Human-readable text.
        detail: String,
    },
    /// The configuration cannot be used; `key` is the dotted path of the offending key.
    Config {
        /// Always `invalid_config`.
        code: String,
        /// Dotted key (`auth.timeout`), empty for the document itself.
        key: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl ClawsocketError {
    /// The stable code, whatever the variant.
    pub fn code(&self) -> &str {
        match self {
            ClawsocketError::Usage { code, .. }
            | ClawsocketError::Client { code, .. }
            | ClawsocketError::Config { code, .. } => code,
        }
    }
}

impl fmt::Display for ClawsocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClawsocketError::Usage { code, detail } | ClawsocketError::Client { code, detail } => {
                write!(f, "{code}: {detail}")
            }
            ClawsocketError::Config { code, key, detail } if key.is_empty() => {
                write!(f, "{code}: {detail}")
            }
            ClawsocketError::Config { code, key, detail } => write!(f, "{code}: {key}: {detail}"),
        }
    }
}

impl std::error::Error for ClawsocketError {}

impl From<clawsocket_core::UsageError> for ClawsocketError {
    fn from(e: clawsocket_core::UsageError) -> Self {
        ClawsocketError::Usage {
            code: e.as_str().to_owned(),
            detail: e.to_string(),
        }
    }
}

impl From<clawsocket_core::ClientError> for ClawsocketError {
    fn from(e: clawsocket_core::ClientError) -> Self {
        ClawsocketError::Client {
            code: e.as_str().to_owned(),
            detail: e.to_string(),
        }
    }
}

impl From<clawsocket_core::ConfigError> for ClawsocketError {
    fn from(e: clawsocket_core::ConfigError) -> Self {
        ClawsocketError::Config {
            code: "invalid_config".to_owned(),
            detail: e.message,
            key: e.key,
        }
    }
}
