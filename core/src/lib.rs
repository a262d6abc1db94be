//! # clawsocket-core
//!
//! The chat protocol of the `openclaw-websocket` channel plugin (`chat.send` in;
//! `chat.typing`, `chat.stream`, `chat.response`, `chat.error` out), plus clawsocket's
//! additive version 2 (sequence numbers and resume, cancel, acks and idempotent sends, delta
//! streaming, busy policy, heartbeats, history), as a sans-IO state machine.
//!
//! `#![no_std]` with `alloc`: no sockets, no clock, no threads, no randomness. Time enters as
//! milliseconds on every call, ids are counters, so the same inputs give the same frames on
//! every platform and in every language binding.
//!
//! ## The run loop
//!
//! The host owns the sockets, the clock, the HTTP client and the agents. After **every**
//! input it drains the three outputs:
//!
//! ```
//! use clawsocket_core::{Config, Event, Payload, Server};
//!
//! let config = Config::from_json(r#"{"auth":{"enabled":false}}"#).unwrap();
//! let mut server = Server::new(config);
//! let now = 1_000; // milliseconds from the host's clock
//!
//! let conn = server.handle_connect(now, "senderId=user1&senderName=John");
//! server.handle_text(now, conn, br#"{"type":"chat.send","content":"Hello!"}"#).unwrap();
//!
//! // 1. frames to write, in order
//! while let Some(t) = server.poll_transmit() {
//!     match t.payload {
//!         Payload::Text(text) => { /* socket_of(t.connection).send(text) */ let _ = text; }
//!         Payload::Close { code, reason } => { /* close with code and reason */ let _ = (code, reason); }
//!     }
//! }
//! // 2. work for the host
//! let mut turn = None;
//! while let Some(event) = server.poll_event() {
//!     if let Event::RunTurn(t) = event {
//!         assert_eq!(t.body(), "John: Hello!");
//!         turn = Some(t.id()); // start the agent; feed its output back:
//!     }
//! }
//! let turn = turn.unwrap();
//! server.handle_agent_delta(now + 5, turn, "Hi ").unwrap();
//! server.handle_agent_final(now + 9, turn, Some("Hi John!")).unwrap();
//! let last = std::iter::from_fn(|| server.poll_transmit()).last().unwrap();
//! assert_eq!(
//!     last.payload,
//!     Payload::Text(r#"{"type":"chat.response","messageId":"msg-1","content":"Hi John!","done":true}"#.into())
//! );
//! // 3. the next deadline: call handle_timeout(now) when the clock reaches it
//! let _next: Option<u64> = server.poll_timeout();
//! ```
//!
//! Errors: `Result::Err` ([`UsageError`]) only means the host misused the API (an unknown
//! connection id, say). Anything a peer sends — garbage, oversize, wrong types, someone else's
//! `senderId` — becomes a `chat.error` frame with a stable [`ErrorCode`] and the connection
//! stays usable.
//!
//! The client side ([`Client`]) builds `chat.send`, reads every server frame, assembles
//! streamed replies and resumes after a reconnect.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::alloc_instead_of_core
)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod auth;
mod chunk;
pub mod client;
mod config;
mod error;
mod event;
mod id_table;
mod identity;
mod inbound;
mod media;
mod outbound;
mod pairing;
mod rate;
mod send;
mod server;
mod session;
mod sessions;
mod timers;
mod transmits;

pub use client::{build_send, Client, ClientError, ClientEvent, ClientOptions, SendOptions};
pub use config::{
    AuthConfig, BusyPolicy, Config, ConfigError, DmPolicy, DynamicAgentConfig, Limits, Timing,
};
pub use error::{ErrorCode, UsageError};
pub use event::{
    AgentProvision, CancelReason, ChatType, ConnectionId, Event, Outcome, Payload, PayloadRef,
    Transmit, TransmitRef, Turn, TurnId,
};
pub use identity::{
    direct_session_key, dynamic_agent_id, group_session_key, is_agent_id, parse_query,
};
pub use media::{Media, MediaKind};
pub use server::{
    AgentFailure, HistoryMessage, HistoryPage, Server, CLOSE_AUTH, CLOSE_GOING_AWAY,
    CLOSE_SLOW_CONSUMER, CLOSE_TIMEOUT, PROTOCOL_VERSION,
};
pub use session::StreamMode;
