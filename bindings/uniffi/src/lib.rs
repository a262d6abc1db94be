//! # clawsocket-uniffi
//!
//! Kotlin and Swift bindings of `clawsocket-core`, generated with uniffi (proc-macros, library
//! mode). Two thread-safe objects wrap the core's state machines:
//!
//! - [`Client`]: the client side for mobile and desktop apps — builds `chat.send`, reads server
//!   frames, assembles streamed replies, resumes after a reconnect.
//! - [`Server`]: the server side for JVM hosts — every input, every output, every deadline.
//!
//! Each method converts its arguments, calls one core method under the object's mutex and
//! converts the result. No protocol rule lives here. Misuse of the API surfaces as
//! [`ClawsocketError`], which carries the core's stable error code.

mod client;
mod error;
mod lock;
mod server;
mod server_event;

pub use client::{
    Client, ClientEvent, ClientOptions, MediaAttachment, SendOptions, SessionSeq, StreamMode,
};
pub use error::ClawsocketError;
pub use server::{HistoryMessage, HistoryPage, PairingRequest, Server, Transmit, TransmitPayload};
pub use server_event::{
    AuthRequest, CancelReason, ChatType, MediaKind, MediaRef, Outcome, ServerEvent,
    ServerEventDetail, Turn,
};

uniffi::setup_scaffolding!("clawsocket");

/// Highest protocol version the core speaks.
#[uniffi::export]
pub fn protocol_version() -> u8 {
    clawsocket_core::PROTOCOL_VERSION
}

/// Every stable error code a `chat.error` frame can carry, in documentation order.
#[uniffi::export]
pub fn error_codes() -> Vec<String> {
    clawsocket_core::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect()
}

/// Whether an error code (as carried by `chat.error`) means that retrying later can succeed.
/// `None` for a code this version does not know.
#[uniffi::export]
pub fn error_code_retryable(code: String) -> Option<bool> {
    clawsocket_core::ErrorCode::from_wire(&code).map(clawsocket_core::ErrorCode::retryable)
}
