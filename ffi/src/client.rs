//! `clawsocket_client`: the core's client state machine behind an opaque handle, with client
//! events rendered as small JSON objects (see `client_event_json`).

use core::ffi::c_char;

use clawsocket_core::{Client, ClientEvent};

use crate::guard::{
    bytes_arg, call, call_with, opt_str_arg, out_arg, str_arg, Failure, Poisonable, TextOut,
};
use crate::json_args;
use crate::json_out::JsonObject;
use crate::result::ClawsocketResult::{self, *};
use crate::server::poll_timeout;

/// An opaque client: one logical chat connection that survives reconnects.
///
/// Created by `clawsocket_client_new`, destroyed by `clawsocket_client_free`. Not thread-safe:
/// one thread at a time may call functions on a handle (it may move between threads).
#[derive(Debug)]
pub struct ClawsocketClient {
    client: Client,
    /// A frame taken from the core that did not fit the caller's buffer yet.
    transmit: Option<String>,
    /// An event taken from the core (kind, JSON) not delivered yet.
    event: Option<(ClawsocketClientEventKind, String)>,
    /// Message id of the last successful send.
    last_message_id: Option<String>,
    poisoned: bool,
}

impl Poisonable for ClawsocketClient {
    fn poisoned(&mut self) -> &mut bool {
        &mut self.poisoned
    }
}

/// The kind of a client event (also the `"event"` field of its JSON).
#[repr(C)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClawsocketClientEventKind {
    /// `{"event":"ready","protocol":2,"senderId":"..","authenticated":false,"sessionKey":"..","heartbeatMs":30000}`
    CLAWSOCKET_CLIENT_READY = 1,
    /// `{"event":"acked","messageId":"..","duplicate":false}`
    CLAWSOCKET_CLIENT_ACKED = 2,
    /// `{"event":"typing","messageId":"..","sessionKey":".."}` (`""` for a seed server's typing
    /// frame; `sessionKey` in this and the next three only from protocol-2 servers)
    CLAWSOCKET_CLIENT_TYPING = 3,
    /// `{"event":"partial","messageId":"..","sessionKey":"..","text":"<whole text so far>"}`
    CLAWSOCKET_CLIENT_PARTIAL = 4,
    /// `{"event":"reply","messageId":"..","sessionKey":"..","text":"..","cancelled":false}`
    CLAWSOCKET_CLIENT_REPLY = 5,
    /// `{"event":"error","messageId":"..","sessionKey":"..","code":"..","message":"..","retryable":false,"retryAfterMs":1000}`
    /// (`messageId`, `sessionKey`, `code` and `retryAfterMs` only when known)
    CLAWSOCKET_CLIENT_ERROR_EVENT = 6,
    /// `{"event":"resume_gap","sessionKey":".."}`
    CLAWSOCKET_CLIENT_RESUME_GAP = 7,
    /// `{"event":"history","frame":{<the chat.history frame as received>}}`
    CLAWSOCKET_CLIENT_HISTORY = 8,
    /// `{"event":"reconnect","attempt":0}`: open a socket now, then `handle_open`.
    CLAWSOCKET_CLIENT_RECONNECT = 9,
    /// `{"event":"closed","code":1006,"reconnecting":true}`
    CLAWSOCKET_CLIENT_CLOSED = 10,
}

/// The JSON form of a client event (documented on `ClawsocketClientEventKind`).
pub fn client_event_json(event: &ClientEvent) -> (ClawsocketClientEventKind, String) {
    use ClawsocketClientEventKind::*;
    match event {
        ClientEvent::Ready {
            protocol,
            sender_id,
            authenticated,
            session_key,
            heartbeat_ms,
        } => (
            CLAWSOCKET_CLIENT_READY,
            JsonObject::event("ready")
                .u64("protocol", u64::from(*protocol))
                .str("senderId", sender_id)
                .bool("authenticated", *authenticated)
                .str("sessionKey", session_key)
                .u64("heartbeatMs", *heartbeat_ms)
                .finish(),
        ),
        ClientEvent::Acked {
            message_id,
            duplicate,
        } => (
            CLAWSOCKET_CLIENT_ACKED,
            JsonObject::event("acked")
                .str("messageId", message_id)
                .bool("duplicate", *duplicate)
                .finish(),
        ),
        ClientEvent::Typing {
            message_id,
            session_key,
        } => (
            CLAWSOCKET_CLIENT_TYPING,
            JsonObject::event("typing")
                .str("messageId", message_id)
                .opt_str("sessionKey", session_key.as_deref())
                .finish(),
        ),
        ClientEvent::Partial {
            message_id,
            session_key,
            text,
        } => (
            CLAWSOCKET_CLIENT_PARTIAL,
            JsonObject::event("partial")
                .str("messageId", message_id)
                .opt_str("sessionKey", session_key.as_deref())
                .str("text", text)
                .finish(),
        ),
        ClientEvent::Reply {
            message_id,
            session_key,
            text,
            cancelled,
        } => (
            CLAWSOCKET_CLIENT_REPLY,
            JsonObject::event("reply")
                .str("messageId", message_id)
                .opt_str("sessionKey", session_key.as_deref())
                .str("text", text)
                .bool("cancelled", *cancelled)
                .finish(),
        ),
        ClientEvent::Error {
            message_id,
            session_key,
            code: _,
            code_text,
            message,
            retryable,
            retry_after_ms,
        } => (
            CLAWSOCKET_CLIENT_ERROR_EVENT,
            JsonObject::event("error")
                .opt_str("messageId", message_id.as_deref())
                .opt_str("sessionKey", session_key.as_deref())
                .opt_str("code", code_text.as_deref())
                .str("message", message)
                .bool("retryable", *retryable)
                .opt_u64("retryAfterMs", *retry_after_ms)
                .finish(),
        ),
        ClientEvent::ResumeGap { session_key } => (
            CLAWSOCKET_CLIENT_RESUME_GAP,
            JsonObject::event("resume_gap")
                .str("sessionKey", session_key)
                .finish(),
        ),
        ClientEvent::History { frame } => (
            CLAWSOCKET_CLIENT_HISTORY,
            // The core accepted the frame as a JSON object, so it embeds as is.
            JsonObject::event("history")
                .raw("frame", frame.trim())
                .finish(),
        ),
        ClientEvent::Reconnect { attempt } => (
            CLAWSOCKET_CLIENT_RECONNECT,
            JsonObject::event("reconnect")
                .u64("attempt", u64::from(*attempt))
                .finish(),
        ),
        ClientEvent::Closed { code, reconnecting } => (
            CLAWSOCKET_CLIENT_CLOSED,
            JsonObject::event("closed")
                .u64("code", u64::from(*code))
                .bool("reconnecting", *reconnecting)
                .finish(),
        ),
    }
}

/// Creates a client from options given as JSON (every key optional; `"{}"` for the defaults):
/// `{"senderId":"..","senderName":"..","token":"..","protocol":2,"stream":"delta",
/// "messageIdPrefix":"c","reconnectBaseMs":500,"reconnectMaxMs":30000}`.
/// Unknown keys and wrong types are `CLAWSOCKET_INVALID_ARGUMENT` (see
/// `clawsocket_last_error_key`). The first `clawsocket_client_poll_event` asks for a socket.
///
/// Ownership: `options_json` is read during the call only. The caller owns the new handle
/// (`*out`) and must release it with `clawsocket_client_free`; `*out` is untouched on failure.
/// Threading: may be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_new(
    options_json: *const c_char,
    out: *mut *mut ClawsocketClient,
) -> ClawsocketResult {
    call(|| {
        // SAFETY: C contract: NUL-terminated string or NULL.
        let options = json_args::client_options(unsafe { str_arg(options_json, "options_json") }?)?;
        let out = out_arg(out, "out")?;
        *out = Box::into_raw(Box::new(ClawsocketClient {
            client: Client::new(options),
            transmit: None,
            event: None,
            last_message_id: None,
            poisoned: false,
        }));
        Ok(CLAWSOCKET_OK)
    })
}

/// Destroys a client. `NULL` is accepted and does nothing.
///
/// Ownership: takes back the handle; it must not be used (or freed) again.
/// Threading: no other thread may be using the handle.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_free(client: *mut ClawsocketClient) {
    if client.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the pointer came from `clawsocket_client_new` and is freed once (C contract).
        drop(unsafe { Box::from_raw(client) });
    }));
}

/// Copies the URL query to connect with (`senderId=..&protocol=2&stream=delta`,
/// percent-encoded, no leading `?`). Copy protocol as for `clawsocket_server_poll_transmit`
/// (`CLAWSOCKET_OK` or `CLAWSOCKET_BUFFER_TOO_SMALL`; nothing is consumed).
///
/// Ownership: writes into the caller's `buf` (`cap` bytes); nothing to free.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_connect_query(
    client: *mut ClawsocketClient,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ClawsocketResult {
    // SAFETY (every `unsafe` block in this module): the caller passes a live handle that no
    // other thread uses, and pointers that are NULL or valid as the function's doc says.
    unsafe {
        call_with(client, |c| {
            let out = TextOut::new(buf, cap, len)?;
            Ok(out.put(&c.client.connect_query()))
        })
    }
}

/// Builds a `chat.send` from a JSON object of send options and queues it for the socket:
/// `{"content":"..","messageId":"..","senderId":"..","senderName":"..","groupId":"..",
/// "groupSubject":"..","replyToMessageId":"..","replyToBody":"..",
/// "media":[{"path":"https://..","mimeType":"image/png"}],"customData":{...}}`; only
/// `content` is required. The message id (given or generated) is then available from
/// `clawsocket_client_last_message_id`. Empty content is `CLAWSOCKET_EMPTY_CONTENT`; a bad
/// object `CLAWSOCKET_INVALID_ARGUMENT`; nothing is queued on failure.
///
/// Ownership: `send_json` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_send(
    client: *mut ClawsocketClient,
    now_ms: u64,
    send_json: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            let options = json_args::send_options(str_arg(send_json, "send_json")?)?;
            let id = c.client.send(now_ms, &options)?;
            c.last_message_id = Some(id);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Copies the message id of the last successful `clawsocket_client_send` (copy protocol as for
/// `clawsocket_client_connect_query`), or `CLAWSOCKET_EMPTY` before the first send.
///
/// Ownership: writes into the caller's `buf` (`cap` bytes); nothing to free.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_last_message_id(
    client: *mut ClawsocketClient,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            let out = TextOut::new(buf, cap, len)?;
            match &c.last_message_id {
                Some(id) => Ok(out.put(id)),
                None => Ok(CLAWSOCKET_EMPTY),
            }
        })
    }
}

/// Asks the server to stop a running reply (`message_id` NULL: the session's running reply).
///
/// Ownership: `message_id` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_cancel(
    client: *mut ClawsocketClient,
    message_id: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            let message_id = opt_str_arg(message_id, "message_id")?;
            c.client.cancel(message_id);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Asks for a page of a session's history: `session_key` NULL for the connection's own
/// session, `cursor` NULL for the newest page.
///
/// Ownership: the strings are read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_request_history(
    client: *mut ClawsocketClient,
    session_key: *const c_char,
    limit: u32,
    cursor: *const c_char,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            let session_key = opt_str_arg(session_key, "session_key")?;
            let cursor = opt_str_arg(cursor, "cursor")?;
            c.client.request_history(session_key, limit, cursor);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// The socket is open (after a `reconnect` event). On a reconnect the client queues resumes
/// and resends unacknowledged messages.
///
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_handle_open(
    client: *mut ClawsocketClient,
    now_ms: u64,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            c.client.handle_open(now_ms);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// The socket closed (or failed to open) with this close code (1006 when there was none).
/// Schedules a reconnect unless the server refused authentication (4401) or after `stop`.
///
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_handle_close(
    client: *mut ClawsocketClient,
    now_ms: u64,
    code: u16,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            c.client.handle_close(now_ms, code);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// No more reconnects.
///
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_stop(client: *mut ClawsocketClient) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            c.client.stop();
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// A text message from the server (`len` bytes; `text` may be NULL when `len` is 0). Invalid
/// UTF-8 is `CLAWSOCKET_INVALID_UTF8`; text that is not a JSON object with a `type` is
/// `CLAWSOCKET_INVALID_FRAME`; either way the client state is unchanged.
///
/// Ownership: `text` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_handle_frame(
    client: *mut ClawsocketClient,
    now_ms: u64,
    text: *const c_char,
    len: usize,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            let bytes = bytes_arg(text.cast(), len, "text")?;
            let text = core::str::from_utf8(bytes)
                .map_err(|_| Failure::new(CLAWSOCKET_INVALID_UTF8, "text is not valid UTF-8"))?;
            c.client.handle_frame(now_ms, text)?;
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Runs due timers (reconnect, heartbeat ping). Call it at `clawsocket_client_poll_timeout`.
///
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_handle_timeout(
    client: *mut ClawsocketClient,
    now_ms: u64,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            c.client.handle_timeout(now_ms);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Restores a session's last seen seq (after an app restart) so the next connection resumes
/// from there.
///
/// Ownership: `session_key` is read during the call only.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_set_last_seq(
    client: *mut ClawsocketClient,
    session_key: *const c_char,
    seq: u64,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            c.client
                .set_last_seq(str_arg(session_key, "session_key")?, seq);
            Ok(CLAWSOCKET_OK)
        })
    }
}

/// Copies the last seq seen per session as a JSON object (`{"<sessionKey>":<seq>,...}`), for a
/// host that persists it across app restarts and restores it with
/// `clawsocket_client_set_last_seq`. Copy protocol as for `clawsocket_client_connect_query`.
///
/// Ownership: writes into the caller's `buf` (`cap` bytes); nothing to free.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_last_seqs(
    client: *mut ClawsocketClient,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            let out = TextOut::new(buf, cap, len)?;
            let seqs: serde_json::Map<String, serde_json::Value> = c
                .client
                .last_seqs()
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect();
            Ok(out.put(&serde_json::Value::Object(seqs).to_string()))
        })
    }
}

/// The next frame to write to the socket (none while the socket is down). Copy protocol as for
/// `clawsocket_server_poll_transmit`: `CLAWSOCKET_OK` (consumed), `CLAWSOCKET_BUFFER_TOO_SMALL`
/// (only `*len` set, kept), `CLAWSOCKET_EMPTY` (none).
///
/// Ownership: writes into the caller's `buf` (`cap` bytes); nothing to free.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_poll_transmit(
    client: *mut ClawsocketClient,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            let out = TextOut::new(buf, cap, len)?;
            if c.transmit.is_none() {
                c.transmit = c.client.poll_transmit();
            }
            let Some(frame) = &c.transmit else {
                return Ok(CLAWSOCKET_EMPTY);
            };
            let result = out.put(frame);
            if result == CLAWSOCKET_OK {
                c.transmit = None;
            }
            Ok(result)
        })
    }
}

/// The next thing the client learned, as JSON (shapes on `clawsocket_client_event_kind`) with
/// its kind. Same copy protocol as `clawsocket_client_poll_transmit`.
///
/// Ownership: writes into the caller's `buf` (`cap` bytes); nothing to free.
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_poll_event(
    client: *mut ClawsocketClient,
    kind: *mut ClawsocketClientEventKind,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            let kind = out_arg(kind, "kind")?;
            let out = TextOut::new(buf, cap, len)?;
            if c.event.is_none() {
                c.event = c.client.poll_event().map(|e| client_event_json(&e));
            }
            let Some((k, json)) = &c.event else {
                return Ok(CLAWSOCKET_EMPTY);
            };
            if !out.fits(json) {
                return Ok(out.too_small(json));
            }
            let result = out.write(json);
            *kind = *k;
            c.event = None;
            Ok(result)
        })
    }
}

/// When to call `clawsocket_client_handle_timeout`: `CLAWSOCKET_OK` with `*deadline_ms`, or
/// `CLAWSOCKET_EMPTY` when nothing is scheduled (`*deadline_ms` untouched).
///
/// Threading: the handle must not be used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_client_poll_timeout(
    client: *mut ClawsocketClient,
    deadline_ms: *mut u64,
) -> ClawsocketResult {
    unsafe {
        call_with(client, |c| {
            poll_timeout(c.client.poll_timeout(), deadline_ms)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_render_as_documented() {
        let (kind, json) = client_event_json(&ClientEvent::Error {
            message_id: None,
            session_key: None,
            code: None,
            code_text: Some("busy".into()),
            message: "Busy \"now\"".into(),
            retryable: true,
            retry_after_ms: Some(5),
        });
        assert_eq!(
            kind,
            ClawsocketClientEventKind::CLAWSOCKET_CLIENT_ERROR_EVENT
        );
        assert_eq!(
            json,
            r#"{"event":"error","code":"busy","message":"Busy \"now\"","retryable":true,"retryAfterMs":5}"#
        );
        let (_, json) = client_event_json(&ClientEvent::Partial {
            message_id: "m".into(),
            session_key: Some("agent:main:websocket:direct:u".into()),
            text: "Hi".into(),
        });
        assert_eq!(
            json,
            r#"{"event":"partial","messageId":"m","sessionKey":"agent:main:websocket:direct:u","text":"Hi"}"#
        );
        let (_, json) = client_event_json(&ClientEvent::History {
            frame: r#"{"type":"chat.history","messages":[]}"#.into(),
        });
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["frame"]["type"], "chat.history");
    }
}
