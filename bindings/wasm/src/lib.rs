//! # clawsocket-wasm
//!
//! The core's client state machine ([`clawsocket_core::Client`]) for the browser page, through
//! a tiny hand-written WebAssembly ABI (no wasm-bindgen, so no extra toolchain):
//!
//! - strings go in through the input buffer: `ptr = cs_input(len)`, write UTF-8 bytes there,
//!   then call the function that reads it;
//! - strings come out through the output buffer: a function returns the length (`-1`: nothing),
//!   the bytes start at `cs_output()` and stay valid until the next call;
//! - a client is a handle (`u32`, never 0);
//! - time is a number of milliseconds from JavaScript (`Date.now()`); it is never read here.
//!
//! Every export converts its arguments, calls one core method and converts the result; the
//! protocol rules (resume, acks, reconnect back-off, reply assembly) are the core's.
//! `server/web/client.js` is the JavaScript side; `server/web/build-wasm.sh` builds the module.

mod buffers;
mod convert;
mod handles;

use clawsocket_core::Client;

/// Milliseconds from JavaScript (a double) as the core's `u64` (`as` saturates; NaN is 0).
fn millis(now: f64) -> u64 {
    now as u64
}

/// Makes the input buffer `len` bytes long and returns where to write them.
#[no_mangle]
pub extern "C" fn cs_input(len: usize) -> *mut u8 {
    buffers::reserve_input(len)
}

/// Where the last result's bytes start.
#[no_mangle]
pub extern "C" fn cs_output() -> *const u8 {
    buffers::output_ptr()
}

/// Length of the last result (the reason after `cs_client_new` returned 0, say).
#[no_mangle]
pub extern "C" fn cs_output_len() -> i32 {
    buffers::output_len()
}

/// A new client from the options JSON in the input buffer (see `convert::client_options`).
/// Returns its handle, or 0 with the reason in the output buffer.
#[no_mangle]
pub extern "C" fn cs_client_new() -> u32 {
    match convert::client_options(&buffers::input_text()) {
        Ok(options) => handles::insert(Client::new(options)),
        Err(reason) => {
            buffers::output(&reason);
            0
        }
    }
}

/// Drops a client.
#[no_mangle]
pub extern "C" fn cs_client_free(handle: u32) {
    handles::remove(handle);
}

/// The URL query to connect with; returns its length.
#[no_mangle]
pub extern "C" fn cs_connect_query(handle: u32) -> i32 {
    handles::with(handle, |c| buffers::output(&c.connect_query())).unwrap_or(-1)
}

/// Sends the message JSON in the input buffer. The output is `{"messageId":".."}` or
/// `{"error":"empty_content"}` (or a JSON error text); returns its length.
#[no_mangle]
pub extern "C" fn cs_send(handle: u32, now: f64) -> i32 {
    let result = match convert::send_options(&buffers::input_text()) {
        Ok(message) => handles::with(handle, |c| match c.send(millis(now), &message) {
            Ok(id) => serde_json::json!({ "messageId": id }),
            Err(e) => serde_json::json!({ "error": e.as_str() }),
        }),
        Err(reason) => Some(serde_json::json!({ "error": reason })),
    };
    result.map_or(-1, |value| buffers::output(&value.to_string()))
}

/// Cancels the reply to the message id in the input buffer (empty: the running one).
#[no_mangle]
pub extern "C" fn cs_cancel(handle: u32) {
    let id = buffers::input_text();
    handles::with(handle, |c| {
        c.cancel(Some(id.as_str()).filter(|s| !s.is_empty()))
    });
}

/// Requests a history page (`{"sessionKey","limit","cursor"}` in the input buffer).
/// Returns 0, or -1 with the reason in the output buffer.
#[no_mangle]
pub extern "C" fn cs_request_history(handle: u32) -> i32 {
    match convert::history_request(&buffers::input_text()) {
        Ok(h) => handles::with(handle, |c| {
            c.request_history(h.session_key.as_deref(), h.limit, h.cursor.as_deref());
            0
        })
        .unwrap_or(-1),
        Err(reason) => {
            buffers::output(&reason);
            -1
        }
    }
}

/// The socket opened.
#[no_mangle]
pub extern "C" fn cs_handle_open(handle: u32, now: f64) {
    handles::with(handle, |c| c.handle_open(millis(now)));
}

/// The socket closed with this close code (1006 when it failed).
#[no_mangle]
pub extern "C" fn cs_handle_close(handle: u32, now: f64, code: u32) {
    let code = u16::try_from(code).unwrap_or(1006);
    handles::with(handle, |c| c.handle_close(millis(now), code));
}

/// No more reconnects.
#[no_mangle]
pub extern "C" fn cs_stop(handle: u32) {
    handles::with(handle, Client::stop);
}

/// A text frame from the server (in the input buffer). Returns 0, or -1 when the frame is
/// not a JSON object with a type (the client state is unchanged).
#[no_mangle]
pub extern "C" fn cs_handle_frame(handle: u32, now: f64) -> i32 {
    let text = buffers::input_text();
    handles::with(handle, |c| match c.handle_frame(millis(now), &text) {
        Ok(()) => 0,
        Err(_) => -1,
    })
    .unwrap_or(-1)
}

/// Runs due timers.
#[no_mangle]
pub extern "C" fn cs_handle_timeout(handle: u32, now: f64) {
    handles::with(handle, |c| c.handle_timeout(millis(now)));
}

/// The next frame to write (length of the output), or -1.
#[no_mangle]
pub extern "C" fn cs_poll_transmit(handle: u32) -> i32 {
    handles::with(handle, |c| c.poll_transmit())
        .flatten()
        .map_or(-1, |frame| buffers::output(&frame))
}

/// The next event as JSON (length of the output), or -1.
#[no_mangle]
pub extern "C" fn cs_poll_event(handle: u32) -> i32 {
    handles::with(handle, |c| c.poll_event())
        .flatten()
        .map_or(-1, |event| buffers::output(&convert::event_json(&event)))
}

/// When to call `cs_handle_timeout` (milliseconds), or -1 for never.
#[no_mangle]
pub extern "C" fn cs_poll_timeout(handle: u32) -> f64 {
    handles::with(handle, |c| c.poll_timeout())
        .flatten()
        .map_or(-1.0, |at| at as f64)
}

/// Last seq per session as a JSON object `{"<sessionKey>": seq}` (length of the output).
#[no_mangle]
pub extern "C" fn cs_last_seqs(handle: u32) -> i32 {
    handles::with(handle, |c| {
        let seqs: serde_json::Map<String, serde_json::Value> = c
            .last_seqs()
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect();
        buffers::output(&serde_json::Value::Object(seqs).to_string())
    })
    .unwrap_or(-1)
}

/// Restores the last seq of the session named in the input buffer.
#[no_mangle]
pub extern "C" fn cs_set_last_seq(handle: u32, seq: f64) {
    let key = buffers::input_text();
    handles::with(handle, |c| c.set_last_seq(&key, millis(seq)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out() -> String {
        buffers::output_text()
    }

    fn events(handle: u32) -> Vec<serde_json::Value> {
        std::iter::from_fn(|| (cs_poll_event(handle) >= 0).then(out))
            .map(|e| serde_json::from_str(&e).unwrap())
            .collect()
    }

    fn transmits(handle: u32) -> Vec<String> {
        std::iter::from_fn(|| (cs_poll_transmit(handle) >= 0).then(out)).collect()
    }

    fn frame(handle: u32, now: f64, text: &str) {
        buffers::set_input(text);
        assert_eq!(cs_handle_frame(handle, now), 0, "{text}");
    }

    #[test]
    fn a_conversation_through_the_abi() {
        buffers::set_input(r#"{"senderId":"me","token":"t","messageIdPrefix":"w1"}"#);
        let h = cs_client_new();
        assert_ne!(h, 0);
        assert_eq!(events(h)[0]["event"], "reconnect");
        assert!(cs_connect_query(h) > 0);
        assert!(out().contains("token=t") && out().contains("protocol=2"));

        cs_handle_open(h, 1000.0);
        frame(
            h,
            1001.0,
            r#"{"type":"chat.ready","protocol":2,"senderId":"me","sessionKey":"s","heartbeatMs":30000}"#,
        );
        assert_eq!(cs_poll_timeout(h), 31001.0);

        buffers::set_input(r#"{"content":"Hello"}"#);
        assert!(cs_send(h, 1002.0) > 0);
        let sent: serde_json::Value = serde_json::from_str(&out()).unwrap();
        assert_eq!(sent["messageId"], "w1-1");
        let frames = transmits(h);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].contains(r#""type":"chat.send""#));

        frame(
            h,
            1003.0,
            r#"{"type":"chat.stream","sessionKey":"s","seq":1,"messageId":"w1-1","content":"Hi ","done":false}"#,
        );
        frame(
            h,
            1004.0,
            r#"{"type":"chat.stream","sessionKey":"s","seq":2,"messageId":"w1-1","content":"there","done":false}"#,
        );
        // A replayed frame after a resume is skipped by the core.
        frame(
            h,
            1005.0,
            r#"{"type":"chat.stream","sessionKey":"s","seq":2,"messageId":"w1-1","content":"there","done":false}"#,
        );
        frame(
            h,
            1006.0,
            r#"{"type":"chat.response","sessionKey":"s","seq":3,"messageId":"w1-1","content":"Hi there","done":true}"#,
        );
        let got = events(h);
        let kinds: Vec<&str> = got.iter().map(|e| e["event"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["ready", "partial", "partial", "reply"]);
        assert_eq!(got[2]["text"], "Hi there");
        assert_eq!(got[3]["text"], "Hi there");

        cs_last_seqs(h);
        assert_eq!(out(), r#"{"s":3}"#);
        cs_client_free(h);
        assert_eq!(cs_poll_event(h), -1);
    }

    #[test]
    fn bad_input_is_reported_not_panicked() {
        buffers::set_input(r#"{"protocol":"two"}"#);
        assert_eq!(cs_client_new(), 0);
        assert!(!out().is_empty());

        buffers::set_input("{}");
        let h = cs_client_new();
        buffers::set_input(r#"{"content":"  "}"#);
        cs_send(h, 0.0);
        assert_eq!(out(), r#"{"error":"empty_content"}"#);
        buffers::set_input("not json");
        assert_eq!(cs_handle_frame(h, 0.0), -1);
        cs_handle_close(h, 0.0, 4401);
        let closed = events(h).pop().unwrap();
        assert_eq!(closed["reconnecting"], false);
        assert_eq!(cs_poll_timeout(h), -1.0);
    }
}
