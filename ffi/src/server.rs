//! `clawsocket_server`: the core's server state machine behind an opaque handle.
//!
//! Each function converts its arguments, calls one core method and converts the result. The
//! only state kept here is one polled-but-not-yet-delivered output per queue, so that a
//! too-small buffer never loses a frame or an event.

use core::ffi::c_char;

use clawsocket_core::{Config, ConnectionId, Event, PayloadRef, Server, TurnId};

use crate::guard::{
    bytes_arg, call, call_with, opt_str_arg, out_arg, str_arg, Failure, Outcome, Poisonable,
    TextOut,
};
use crate::json_args;
use crate::result::ClawsocketResult::{self, *};

/// An opaque server: the protocol's server side for any number of connections.
///
/// Created by `clawsocket_server_new`, destroyed by `clawsocket_server_free`. Not thread-safe:
/// one thread at a time may call functions on a handle (it may move between threads; guard it
/// with a mutex if several threads share it). Different handles are independent.
#[derive(Debug)]
pub struct ClawsocketServer {
    server: Server,
    /// An event taken from the core (kind, subject id, JSON) not delivered yet.
    event: Option<(ClawsocketEventKind, u64, String)>,
    poisoned: bool,
}

impl Poisonable for ClawsocketServer {
    fn poisoned(&mut self) -> &mut bool {
        &mut self.poisoned
    }
}

impl ClawsocketServer {
    /// The handle for a config (also used by the benchmark to compare with the bare core).
    pub fn from_config(config: Config) -> ClawsocketServer {
        ClawsocketServer {
            server: Server::new(config),
            event: None,
            poisoned: false,
        }
    }
}

/// What a transmit asks the host to do with the connection's socket.
#[repr(C)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClawsocketTransmitKind {
    /// Send the text as one WebSocket text message.
    CLAWSOCKET_TRANSMIT_TEXT = 1,
    /// Close the WebSocket with `close_code` and the text as the reason; nothing follows.
    CLAWSOCKET_TRANSMIT_CLOSE = 2,
}

/// The kind of a server event (also the `"event"` field of its JSON).
#[repr(C)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClawsocketEventKind {
    /// `verify_token`: POST `request` to the auth endpoint; id = the connection.
    CLAWSOCKET_EVENT_VERIFY_TOKEN = 1,
    /// `provision_agent`: create a dynamic agent's workspace; id = 0.
    CLAWSOCKET_EVENT_PROVISION_AGENT = 2,
    /// `run_turn`: run the turn on its agent; id = the turn.
    CLAWSOCKET_EVENT_RUN_TURN = 3,
    /// `cancel_turn`: stop the turn's agent; id = the turn.
    CLAWSOCKET_EVENT_CANCEL_TURN = 4,
    /// `turn_finished`: store the finished turn; id = the turn.
    CLAWSOCKET_EVENT_TURN_FINISHED = 5,
    /// `pairing_requested`: a sender waits for approval; id = 0.
    CLAWSOCKET_EVENT_PAIRING_REQUESTED = 6,
    /// `pairing_approved`: persist the approved sender; id = 0.
    CLAWSOCKET_EVENT_PAIRING_APPROVED = 7,
    /// `fetch_history`: answer with a history page; id = the request.
    CLAWSOCKET_EVENT_FETCH_HISTORY = 8,
}

fn describe(event: &Event) -> (ClawsocketEventKind, u64) {
    use ClawsocketEventKind::*;
    match event {
        Event::VerifyToken { connection, .. } => (CLAWSOCKET_EVENT_VERIFY_TOKEN, connection.0),
        Event::ProvisionAgent(_) => (CLAWSOCKET_EVENT_PROVISION_AGENT, 0),
        Event::RunTurn(turn) => (CLAWSOCKET_EVENT_RUN_TURN, turn.id().0),
        Event::CancelTurn { turn, .. } => (CLAWSOCKET_EVENT_CANCEL_TURN, turn.0),
        Event::TurnFinished { turn, .. } => (CLAWSOCKET_EVENT_TURN_FINISHED, turn.0),
        Event::PairingRequested { .. } => (CLAWSOCKET_EVENT_PAIRING_REQUESTED, 0),
        Event::PairingApproved { .. } => (CLAWSOCKET_EVENT_PAIRING_APPROVED, 0),
        Event::FetchHistory { request, .. } => (CLAWSOCKET_EVENT_FETCH_HISTORY, *request),
    }
}

/// Creates a server from a JSON configuration: a whole OpenClaw-style file
/// (`{"channels":{"websocket":{...}}}`) or just the `channels.websocket` block; `"{}"` gives
/// the defaults (auth enabled and required, as in the seed plugin).
///
/// Returns `CLAWSOCKET_OK` and stores the new handle in `*out`, or `CLAWSOCKET_INVALID_CONFIG`
/// (the key and the problem are then in `clawsocket_last_error_key`/`_message`),
/// `CLAWSOCKET_NULL_POINTER` or `CLAWSOCKET_INVALID_UTF8`; `*out` is untouched on failure.
///
/// Ownership: `config_json` is read during the call only. The caller owns the new handle and
/// must release it with `clawsocket_server_free`.
/// Threading: may be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_new(
    config_json: *const c_char,
    out: *mut *mut ClawsocketServer,
) -> ClawsocketResult {
    call(|| {
        // SAFETY: C contract: NUL-terminated string or NULL.
        let text = unsafe { str_arg(config_json, "config_json") }?;
        let out = out_arg(out, "out")?;
        let config = Config::from_json(text)
            .map_err(|e| Failure::keyed(CLAWSOCKET_INVALID_CONFIG, e.key, e.message))?;
        *out = Box::into_raw(Box::new(ClawsocketServer::from_config(config)));
        Ok(CLAWSOCKET_OK)
    })
}

/// Like `clawsocket_server_new`, then applies the seed plugin's environment overrides with the
/// values the host read: `ws_auth_enabled` is the value of `WS_AUTH_ENABLED` (`true`, `false`,
/// `1` or `0`) and `ws_auth_endpoint` the value of `WS_AUTH_ENDPOINT`; NULL means the variable
/// is not set. A bad value is `CLAWSOCKET_INVALID_CONFIG` with the variable's name as the key.
///
/// Ownership: the strings are read during the call only. The caller owns the new handle and
/// must release it with `clawsocket_server_free`; `*out` is untouched on failure.
/// Threading: may be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_new_with_env(
    config_json: *const c_char,
    ws_auth_enabled: *const c_char,
    ws_auth_endpoint: *const c_char,
    out: *mut *mut ClawsocketServer,
) -> ClawsocketResult {
    call(|| {
        // SAFETY: C contract: NUL-terminated strings or NULL.
        let (text, enabled, endpoint) = unsafe {
            (
                str_arg(config_json, "config_json")?,
                opt_str_arg(ws_auth_enabled, "ws_auth_enabled")?,
                opt_str_arg(ws_auth_endpoint, "ws_auth_endpoint")?,
            )
        };
        let out = out_arg(out, "out")?;
        let refuse = |e: clawsocket_core::ConfigError| {
            Failure::keyed(CLAWSOCKET_INVALID_CONFIG, e.key, e.message)
        };
        let mut config = Config::from_json(text).map_err(refuse)?;
        config.apply_env(enabled, endpoint).map_err(refuse)?;
        *out = Box::into_raw(Box::new(ClawsocketServer::from_config(config)));
        Ok(CLAWSOCKET_OK)
    })
}

/// Destroys a server and everything it holds (connections, sessions, undelivered outputs).
/// `NULL` is accepted and does nothing.
///
/// Ownership: takes back the handle; it must not be used (or freed) again.
/// Threading: no other thread may be using the handle.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_free(server: *mut ClawsocketServer) {
    if server.is_null() {
        return;
    }
    // A panic in a destructor must not cross into C either; there is nothing to report it to.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the pointer came from `clawsocket_server_new` and is freed once (C contract).
        drop(unsafe { Box::from_raw(server) });
    }));
}

/// A WebSocket was accepted with this raw URL query (`senderId=...&token=...`, with or without
/// the leading `?`; `""` for none). Stores the connection id (never 0) in `*out_connection`;
/// pass it to every later input of this connection. Then drain the outputs.
///
/// Ownership: `query` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_connect(
    server: *mut ClawsocketServer,
    now_ms: u64,
    query: *const c_char,
    out_connection: *mut u64,
) -> ClawsocketResult {
    // SAFETY (every `unsafe` block in this module): the caller passes a live handle that no
    // other thread uses, and pointers that are NULL or valid as the function's doc says.
    unsafe {
        call_with(server, |s| {
            let query = str_arg(query, "query")?;
            let out = out_arg(out_connection, "out_connection")?;
            *out = s.server.handle_connect(now_ms, query).0;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// A text message arrived on `connection`: `len` raw bytes as received (the core itself checks
/// size, UTF-8 and JSON and answers a bad frame with a `chat.error`, so invalid UTF-8 here is
/// not a caller error). `data` may be NULL when `len` is 0.
/// Returns `CLAWSOCKET_UNKNOWN_CONNECTION` for an id the server does not know (any more).
///
/// Ownership: `data` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_text(
    server: *mut ClawsocketServer,
    now_ms: u64,
    connection: u64,
    data: *const c_char,
    len: usize,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let data = bytes_arg(data.cast(), len, "data")?;
            s.server
                .handle_text(now_ms, ConnectionId(connection), data)?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// A binary message arrived (refused with a `chat.error`; the connection stays usable).
/// `data` may be NULL when `len` is 0. Returns `CLAWSOCKET_UNKNOWN_CONNECTION` for an unknown id.
///
/// Ownership: `data` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_binary(
    server: *mut ClawsocketServer,
    now_ms: u64,
    connection: u64,
    data: *const u8,
    len: usize,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let data = bytes_arg(data, len, "data")?;
            s.server
                .handle_binary(now_ms, ConnectionId(connection), data)?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// The connection's socket is gone (closed by either side). Its replies keep running and
/// reach the session's other connections. Returns `CLAWSOCKET_UNKNOWN_CONNECTION` for an
/// unknown id, including a second disconnect of the same connection.
///
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_disconnect(
    server: *mut ClawsocketServer,
    now_ms: u64,
    connection: u64,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            s.server
                .handle_disconnect(now_ms, ConnectionId(connection))?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// The auth service answered a `verify_token` event with this HTTP status and body (`len`
/// bytes; `body` may be NULL when `len` is 0). Answers for connections that are gone or no
/// longer waiting (the core's auth timeout won) are ignored and still return `CLAWSOCKET_OK`.
///
/// Ownership: `body` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_auth_response(
    server: *mut ClawsocketServer,
    now_ms: u64,
    connection: u64,
    status: u16,
    body: *const c_char,
    len: usize,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let body = bytes_arg(body.cast(), len, "body")?;
            s.server
                .handle_auth_response(now_ms, ConnectionId(connection), status, body);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// The auth service could not be reached for a `verify_token` event (refused, DNS, TLS...).
/// Ignored (still `CLAWSOCKET_OK`) when the connection is no longer waiting.
///
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_auth_unavailable(
    server: *mut ClawsocketServer,
    now_ms: u64,
    connection: u64,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            s.server
                .handle_auth_unavailable(now_ms, ConnectionId(connection));
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// The agent of `turn` produced more text (only the new part, NUL-terminated UTF-8).
/// Output for a cancelled or finished turn is ignored (`CLAWSOCKET_OK`); a turn id the server
/// never issued is `CLAWSOCKET_UNKNOWN_TURN`.
///
/// Ownership: `text` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_agent_delta(
    server: *mut ClawsocketServer,
    now_ms: u64,
    turn: u64,
    text: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let text = str_arg(text, "text")?;
            s.server.handle_agent_delta(now_ms, TurnId(turn), text)?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// The agent of `turn` sent its whole text so far (agents that stream cumulative text).
/// Same results as `clawsocket_server_handle_agent_delta`.
///
/// Ownership: `text` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_agent_text(
    server: *mut ClawsocketServer,
    now_ms: u64,
    turn: u64,
    text: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let text = str_arg(text, "text")?;
            s.server.handle_agent_text(now_ms, TurnId(turn), text)?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// The agent of `turn` finished. `text` is the final reply, or NULL to use the text streamed
/// so far (NULL is allowed here: it means "no final text"). Finishing a finished turn again is
/// ignored; a turn id never issued is `CLAWSOCKET_UNKNOWN_TURN`.
///
/// Ownership: `text` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_agent_final(
    server: *mut ClawsocketServer,
    now_ms: u64,
    turn: u64,
    text: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let text = opt_str_arg(text, "text")?;
            s.server.handle_agent_final(now_ms, TurnId(turn), text)?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// The agent of `turn` failed with this message (the client gets `chat.error`, code
/// `agent_error`). Same results as `clawsocket_server_handle_agent_delta`.
///
/// Ownership: `message` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_agent_error(
    server: *mut ClawsocketServer,
    now_ms: u64,
    turn: u64,
    message: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let message = str_arg(message, "message")?;
            s.server.handle_agent_error(now_ms, TurnId(turn), message)?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Runs every deadline due at `now_ms` (auth timeouts, idle and heartbeat closes, keepalives,
/// agent timeouts). Call it when the clock reaches `clawsocket_server_poll_timeout`.
///
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_timeout(
    server: *mut ClawsocketServer,
    now_ms: u64,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            s.server.handle_timeout(now_ms);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Stops everything for a shutdown: running and queued replies end as cancelled, every
/// connection gets a 1001 close. Drain the outputs afterwards.
///
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_shutdown(
    server: *mut ClawsocketServer,
    now_ms: u64,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            s.server.handle_shutdown(now_ms);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// An operator approved a pairing code (`dmPolicy: pairing`). The admitted sender is reported
/// by the `pairing_approved` event this queues. `CLAWSOCKET_UNKNOWN_PAIRING_CODE` when no
/// pending request has the code (including a code approved before).
///
/// Ownership: `code` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_approve_pairing(
    server: *mut ClawsocketServer,
    now_ms: u64,
    code: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let code = str_arg(code, "code")?;
            s.server.approve_pairing(now_ms, code)?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Admits a sender under `dmPolicy: pairing` (restoring approvals the host persisted).
///
/// Ownership: `sender_id` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_allow_sender(
    server: *mut ClawsocketServer,
    sender_id: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let sender_id = str_arg(sender_id, "sender_id")?;
            s.server.allow_sender(sender_id);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Records a dynamic agent the host already provisioned (after a restart), so it is not
/// provisioned again and counts toward `maxAgents`.
///
/// Ownership: `agent_id` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_restore_dynamic_agent(
    server: *mut ClawsocketServer,
    agent_id: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let agent_id = str_arg(agent_id, "agent_id")?;
            s.server.restore_dynamic_agent(agent_id);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Answers a `fetch_history` event with a page given as JSON:
/// `{"messages":[{"messageId":"..","role":"user"|"assistant","senderId":"..","senderName":"..",
/// "content":"..","at":<ms>}],"nextCursor":".."}` (messages oldest first; `senderId`,
/// `senderName` and `nextCursor` optional). A malformed page is `CLAWSOCKET_INVALID_ARGUMENT`
/// (the request stays outstanding); an unknown or already answered request is
/// `CLAWSOCKET_UNKNOWN_REQUEST`.
///
/// Ownership: `page_json` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_history(
    server: *mut ClawsocketServer,
    now_ms: u64,
    request: u64,
    page_json: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let page = json_args::history_page(str_arg(page_json, "page_json")?)?;
            s.server.handle_history(now_ms, request, Ok(page))?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Answers a `fetch_history` event with a failure; the client gets `chat.error` with code
/// `history_unavailable` and this reason. Same results as `clawsocket_server_handle_history`.
///
/// Ownership: `reason` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_handle_history_error(
    server: *mut ClawsocketServer,
    now_ms: u64,
    request: u64,
    reason: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let reason = str_arg(reason, "reason")?;
            s.server.handle_history(now_ms, request, Err(reason))?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Copies the sessions' sequence counters and replay buffers, as JSON, for the host to persist
/// and hand to `clawsocket_server_restore_sessions` after a restart. Copy protocol as for
/// `clawsocket_server_poll_transmit` (`CLAWSOCKET_OK` or `CLAWSOCKET_BUFFER_TOO_SMALL`; the
/// export does not change the server, so retrying is always possible).
///
/// Ownership: writes into the caller's `buf` (`cap` bytes); nothing to free.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_export_sessions(
    server: *mut ClawsocketServer,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let out = TextOut::new(buf, cap, len)?;
            Ok(out.put(&s.server.export_sessions()))
        })
    }
}

/// Restores sessions exported by `clawsocket_server_export_sessions` (call before accepting
/// connections). `CLAWSOCKET_INVALID_STATE` when the text cannot be read; nothing is restored
/// then.
///
/// Ownership: `exported` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_restore_sessions(
    server: *mut ClawsocketServer,
    now_ms: u64,
    exported: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let exported = str_arg(exported, "exported")?;
            s.server.restore_sessions(now_ms, exported)?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// The next frame or close to write, in order. Drain until `CLAWSOCKET_EMPTY` after every input.
///
/// - `CLAWSOCKET_OK`: `*connection`, `*kind` and `*close_code` (0 for text) are set; `buf`
///   holds the frame text (or the close reason) and a NUL terminator; `*len` is the text
///   length without the NUL. The transmit is consumed.
/// - `CLAWSOCKET_BUFFER_TOO_SMALL`: only `*len` is set (the text length; the buffer needs
///   `*len + 1` bytes). The transmit is kept: call again with a bigger buffer to get it.
///   `buf` may be NULL with `cap` 0 to ask for the size.
/// - `CLAWSOCKET_EMPTY`: nothing to write; no output is set.
///
/// Ownership: writes into the caller's `buf` (`cap` bytes); nothing to free.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_poll_transmit(
    server: *mut ClawsocketServer,
    connection: *mut u64,
    kind: *mut ClawsocketTransmitKind,
    close_code: *mut u16,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let connection = out_arg(connection, "connection")?;
            let kind = out_arg(kind, "kind")?;
            let close_code = out_arg(close_code, "close_code")?;
            let out = TextOut::new(buf, cap, len)?;
            // Looked at in place and taken only once copied: a frame that does not fit stays
            // queued for the next call.
            let Some(t) = s.server.peek_transmit() else {
                return Ok(CLAWSOCKET_EMPTY);
            };
            let (k, code, text) = match t.payload {
                PayloadRef::Text(text) => {
                    (ClawsocketTransmitKind::CLAWSOCKET_TRANSMIT_TEXT, 0, text)
                }
                PayloadRef::Close { code, reason } => (
                    ClawsocketTransmitKind::CLAWSOCKET_TRANSMIT_CLOSE,
                    code,
                    reason,
                ),
            };
            if !out.fits(text) {
                return Ok(out.too_small(text));
            }
            let result = out.write(text);
            *connection = t.connection.0;
            *kind = k;
            *close_code = code;
            s.server.poll_transmit_ref();
            Ok(result)
        })
    }
}

/// The next request for the host, as its canonical JSON (`{"event":"run_turn","turn":{...}}`,
/// the same text the shared test vectors expect), with its kind and subject id (`*id`: the
/// connection, turn or request the event is about, 0 when none). Same copy protocol as
/// `clawsocket_server_poll_transmit`: `CLAWSOCKET_OK` (consumed), `CLAWSOCKET_BUFFER_TOO_SMALL`
/// (only `*len` set, kept), `CLAWSOCKET_EMPTY` (none).
///
/// A `verify_token` event's JSON contains the client's token: do not log it.
///
/// Ownership: writes into the caller's `buf` (`cap` bytes); nothing to free.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_poll_event(
    server: *mut ClawsocketServer,
    kind: *mut ClawsocketEventKind,
    id: *mut u64,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            let kind = out_arg(kind, "kind")?;
            let id = out_arg(id, "id")?;
            let out = TextOut::new(buf, cap, len)?;
            if s.event.is_none() {
                s.event = s.server.poll_event().map(|e| {
                    let (k, subject) = describe(&e);
                    (k, subject, e.to_json())
                });
            }
            let Some((k, subject, json)) = &s.event else {
                return Ok(CLAWSOCKET_EMPTY);
            };
            if !out.fits(json) {
                return Ok(out.too_small(json));
            }
            let result = out.write(json);
            *kind = *k;
            *id = *subject;
            s.event = None;
            Ok(result)
        })
    }
}

/// When to call `clawsocket_server_handle_timeout` next: `CLAWSOCKET_OK` with the deadline
/// (milliseconds, the same clock as `now_ms`) in `*deadline_ms`, or `CLAWSOCKET_EMPTY` when
/// nothing is scheduled (`*deadline_ms` untouched). Call it after draining the outputs.
///
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_poll_timeout(
    server: *mut ClawsocketServer,
    deadline_ms: *mut u64,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            poll_timeout(s.server.poll_timeout(), deadline_ms)
        })
    }
}

pub(crate) fn poll_timeout(next: Option<u64>, deadline_ms: *mut u64) -> Outcome {
    let out = out_arg(deadline_ms, "deadline_ms")?;
    match next {
        Some(at) => {
            *out = at;
            Ok(CLAWSOCKET_OK)
        }
        None => Ok(CLAWSOCKET_EMPTY),
    }
}

/// Connections the server knows (any state), for metrics.
///
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_server_connection_count(
    server: *mut ClawsocketServer,
    count: *mut usize,
) -> ClawsocketResult {
    unsafe {
        call_with(server, |s| {
            *out_arg(count, "count")? = s.server.connection_count();
            Ok(CLAWSOCKET_OK)
        })
    }
}
