//! Node.js binding of the clawsocket protocol core (napi-rs).
//!
//! Every method converts its arguments, calls one core method and converts the result: the
//! protocol lives in `clawsocket-core`. The JavaScript layer (`host.js`, `client.js`) adds
//! sockets, clocks and agents on top.

#![deny(clippy::all)]

pub mod client;
pub mod config;
mod encode;
mod error;
mod input;
pub mod server;

use napi_derive::napi;

/// Highest protocol version the core speaks.
#[napi]
pub const PROTOCOL_VERSION: u32 = clawsocket_core::PROTOCOL_VERSION as u32;
/// Close code for authentication failures (seed behaviour).
#[napi]
pub const CLOSE_AUTH: u32 = clawsocket_core::CLOSE_AUTH as u32;
/// Close code for idle and heartbeat timeouts.
#[napi]
pub const CLOSE_TIMEOUT: u32 = clawsocket_core::CLOSE_TIMEOUT as u32;
/// Close code for a server shutting down.
#[napi]
pub const CLOSE_GOING_AWAY: u32 = clawsocket_core::CLOSE_GOING_AWAY as u32;

/// Every stable error code a `chat.error` frame can carry, in documentation order.
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    clawsocket_core::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect()
}
