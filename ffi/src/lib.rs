//! # clawsocket-ffi
//!
//! The C ABI of clawsocket: the server and client state machines of `clawsocket-core` behind
//! opaque handles, for C and C++ hosts. No I/O, no threads: the host owns the sockets and the
//! clock exactly as with the Rust core, and gets the same frames byte for byte.
//!
//! Conventions of every function (the header `include/clawsocket.h` repeats them):
//! - Returns a `clawsocket_result`; on an error no output parameter is written.
//! - Strings in are NUL-terminated UTF-8 (`const char *`); wire data (frames, auth bodies) is a
//!   pointer and a length. NULL pointers and invalid UTF-8 are errors, never crashes.
//! - Text out is copied into the caller's buffer with a NUL terminator; when it does not fit
//!   the call returns `CLAWSOCKET_BUFFER_TOO_SMALL` with the length in `*len` and keeps the
//!   item for the next call.
//! - No panic crosses the boundary: a panic becomes `CLAWSOCKET_PANIC` and poisons the handle.
//! - A handle is not thread-safe; it may move between threads.

// The pointer contract of every `unsafe extern "C"` function is its "Ownership" paragraph
// (written for C readers of the header) plus the crate conventions above.
#![allow(clippy::missing_safety_doc)]

mod client;
mod guard;
mod json_args;
mod json_out;
mod result;
mod server;

use core::ffi::c_char;

pub use client::*;
pub use result::*;
pub use server::*;

use guard::{call, with_last_error, TextOut};
use result::ClawsocketResult::*;

/// Copies the message of the last error returned on the calling thread (for a configuration
/// error such as `auth.timeout` set to 0: `expected a whole number from 1 to 600000, got 0`;
/// the key is in `clawsocket_last_error_key`). `CLAWSOCKET_EMPTY` when this thread saw no
/// error yet. Each failing call replaces it; successful calls leave it as it was. Copy protocol
/// as for `clawsocket_server_poll_transmit`.
///
/// Ownership: writes into the caller's `buf` (`cap` bytes); nothing to free.
/// Threading: the last error is per thread; any thread may call this.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_last_error_message(
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ClawsocketResult {
    call(|| {
        let out = TextOut::new(buf, cap, len)?;
        Ok(with_last_error(|e| match e {
            Some(failure) => out.put(&failure.message),
            None => CLAWSOCKET_EMPTY,
        }))
    })
}

/// Copies the key the last error on the calling thread is about (a dotted config key such as
/// `channels.websocket.auth.timeout`, or a JSON argument key such as `media[0].path`).
/// `CLAWSOCKET_EMPTY` when the last error names no key (or there was none).
///
/// Ownership: writes into the caller's `buf` (`cap` bytes); nothing to free.
/// Threading: the last error is per thread; any thread may call this.
#[no_mangle]
pub unsafe extern "C" fn clawsocket_last_error_key(
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ClawsocketResult {
    call(|| {
        let out = TextOut::new(buf, cap, len)?;
        Ok(with_last_error(|e| {
            match e.and_then(|f| f.key.as_deref()) {
                Some(key) => out.put(key),
                None => CLAWSOCKET_EMPTY,
            }
        }))
    })
}
