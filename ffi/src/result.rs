//! Result codes of every entry point, and their names.

use core::ffi::{c_char, c_int, CStr};

use clawsocket_core::{ClientError, UsageError};

/// What a call did. `CLAWSOCKET_OK` (0) is success; `CLAWSOCKET_EMPTY` and
/// `CLAWSOCKET_BUFFER_TOO_SMALL` are the two ordinary answers of a poll; everything else is an
/// error, after which no output parameter was written and the handle is unchanged.
/// `clawsocket_result_name` names every code; `clawsocket_last_error_message` explains the last
/// error of the calling thread.
#[repr(C)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClawsocketResult {
    /// Success.
    CLAWSOCKET_OK = 0,
    /// A poll found nothing more (or an optional value is absent); nothing was written.
    CLAWSOCKET_EMPTY = 1,
    /// The caller's buffer cannot hold the text and its NUL terminator. `*len` holds the text
    /// length (the buffer needs `*len + 1` bytes); the item was NOT consumed, so the same call
    /// with a bigger buffer returns it.
    CLAWSOCKET_BUFFER_TOO_SMALL = 2,
    /// A required pointer argument was NULL (or a buffer was NULL with a non-zero capacity).
    CLAWSOCKET_NULL_POINTER = 3,
    /// A string argument is not valid UTF-8.
    CLAWSOCKET_INVALID_UTF8 = 4,
    /// The server configuration is not usable; the last error names the key and the problem.
    CLAWSOCKET_INVALID_CONFIG = 5,
    /// A JSON argument (client options, send options, history page) is not usable; the last
    /// error names the key and the problem.
    CLAWSOCKET_INVALID_ARGUMENT = 6,
    /// Core usage error: the connection id is not (or no longer) known.
    CLAWSOCKET_UNKNOWN_CONNECTION = 7,
    /// Core usage error: the turn id was never issued.
    CLAWSOCKET_UNKNOWN_TURN = 8,
    /// Core usage error: the connection is not waiting for an auth answer.
    CLAWSOCKET_NOT_AWAITING_AUTH = 9,
    /// Core usage error: no pending pairing request has this code.
    CLAWSOCKET_UNKNOWN_PAIRING_CODE = 10,
    /// Core usage error: no history request with this id is outstanding.
    CLAWSOCKET_UNKNOWN_REQUEST = 11,
    /// Core usage error: restored session state could not be read.
    CLAWSOCKET_INVALID_STATE = 12,
    /// A core usage error newer than this library's list of codes.
    CLAWSOCKET_USAGE_ERROR = 13,
    /// Client error: the message content is empty.
    CLAWSOCKET_EMPTY_CONTENT = 14,
    /// Client error: a server frame is not a JSON object with a `type`.
    CLAWSOCKET_INVALID_FRAME = 15,
    /// A client error newer than this library's list of codes.
    CLAWSOCKET_CLIENT_ERROR = 16,
    /// The library panicked (a bug). The call had no effect the caller can rely on and the
    /// handle is now poisoned: free it.
    CLAWSOCKET_PANIC = 17,
    /// An earlier call on this handle panicked; only `_free` may be called on it.
    CLAWSOCKET_POISONED = 18,
}

use ClawsocketResult::*;

impl ClawsocketResult {
    /// Every code, in numeric order.
    pub const ALL: [ClawsocketResult; 19] = [
        CLAWSOCKET_OK,
        CLAWSOCKET_EMPTY,
        CLAWSOCKET_BUFFER_TOO_SMALL,
        CLAWSOCKET_NULL_POINTER,
        CLAWSOCKET_INVALID_UTF8,
        CLAWSOCKET_INVALID_CONFIG,
        CLAWSOCKET_INVALID_ARGUMENT,
        CLAWSOCKET_UNKNOWN_CONNECTION,
        CLAWSOCKET_UNKNOWN_TURN,
        CLAWSOCKET_NOT_AWAITING_AUTH,
        CLAWSOCKET_UNKNOWN_PAIRING_CODE,
        CLAWSOCKET_UNKNOWN_REQUEST,
        CLAWSOCKET_INVALID_STATE,
        CLAWSOCKET_USAGE_ERROR,
        CLAWSOCKET_EMPTY_CONTENT,
        CLAWSOCKET_INVALID_FRAME,
        CLAWSOCKET_CLIENT_ERROR,
        CLAWSOCKET_PANIC,
        CLAWSOCKET_POISONED,
    ];

    /// The stable snake_case name (NUL-terminated). Core usage errors use the core's own names
    /// (`unknown_turn`, ...), so `"error:" + name` is the shared vectors' `result` form.
    pub const fn name(self) -> &'static CStr {
        match self {
            CLAWSOCKET_OK => c"ok",
            CLAWSOCKET_EMPTY => c"empty",
            CLAWSOCKET_BUFFER_TOO_SMALL => c"buffer_too_small",
            CLAWSOCKET_NULL_POINTER => c"null_pointer",
            CLAWSOCKET_INVALID_UTF8 => c"invalid_utf8",
            CLAWSOCKET_INVALID_CONFIG => c"invalid_config",
            CLAWSOCKET_INVALID_ARGUMENT => c"invalid_argument",
            CLAWSOCKET_UNKNOWN_CONNECTION => c"unknown_connection",
            CLAWSOCKET_UNKNOWN_TURN => c"unknown_turn",
            CLAWSOCKET_NOT_AWAITING_AUTH => c"not_awaiting_auth",
            CLAWSOCKET_UNKNOWN_PAIRING_CODE => c"unknown_pairing_code",
            CLAWSOCKET_UNKNOWN_REQUEST => c"unknown_request",
            CLAWSOCKET_INVALID_STATE => c"invalid_state",
            CLAWSOCKET_USAGE_ERROR => c"usage_error",
            CLAWSOCKET_EMPTY_CONTENT => c"empty_content",
            CLAWSOCKET_INVALID_FRAME => c"invalid_frame",
            CLAWSOCKET_CLIENT_ERROR => c"client_error",
            CLAWSOCKET_PANIC => c"panic",
            CLAWSOCKET_POISONED => c"poisoned",
        }
    }
}

impl From<&UsageError> for ClawsocketResult {
    fn from(err: &UsageError) -> Self {
        match err {
            UsageError::UnknownConnection => CLAWSOCKET_UNKNOWN_CONNECTION,
            UsageError::UnknownTurn => CLAWSOCKET_UNKNOWN_TURN,
            UsageError::NotAwaitingAuth => CLAWSOCKET_NOT_AWAITING_AUTH,
            UsageError::UnknownPairingCode => CLAWSOCKET_UNKNOWN_PAIRING_CODE,
            UsageError::UnknownRequest => CLAWSOCKET_UNKNOWN_REQUEST,
            UsageError::InvalidState => CLAWSOCKET_INVALID_STATE,
            _ => CLAWSOCKET_USAGE_ERROR,
        }
    }
}

impl From<&ClientError> for ClawsocketResult {
    fn from(err: &ClientError) -> Self {
        match err {
            ClientError::EmptyContent => CLAWSOCKET_EMPTY_CONTENT,
            ClientError::InvalidFrame => CLAWSOCKET_INVALID_FRAME,
            _ => CLAWSOCKET_CLIENT_ERROR,
        }
    }
}

/// The name of a result code, e.g. `"buffer_too_small"` for `CLAWSOCKET_BUFFER_TOO_SMALL`, or
/// `"unknown"` for a number that is not a code.
///
/// Ownership: the returned string is static; never free or modify it.
/// Threading: may be called from any thread at any time.
#[no_mangle]
pub extern "C" fn clawsocket_result_name(code: c_int) -> *const c_char {
    // Takes an int, not the enum: a C caller may pass any number, and an out-of-range enum
    // value would be undefined behaviour on the Rust side.
    let name = ClawsocketResult::ALL
        .iter()
        .find(|r| **r as c_int == code)
        .map_or(c"unknown", |r| r.name());
    name.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_numbered_in_order_and_named_uniquely() {
        for (i, code) in ClawsocketResult::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i);
        }
        let mut names: Vec<&CStr> = ClawsocketResult::ALL.iter().map(|c| c.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ClawsocketResult::ALL.len());
    }

    #[test]
    fn usage_errors_keep_the_core_names() {
        for err in [
            UsageError::UnknownConnection,
            UsageError::UnknownTurn,
            UsageError::NotAwaitingAuth,
            UsageError::UnknownPairingCode,
            UsageError::UnknownRequest,
            UsageError::InvalidState,
        ] {
            let code = ClawsocketResult::from(&err);
            assert_eq!(code.name().to_str().unwrap(), err.as_str());
        }
        for err in [ClientError::EmptyContent, ClientError::InvalidFrame] {
            assert_eq!(
                ClawsocketResult::from(&err).name().to_str().unwrap(),
                err.as_str()
            );
        }
    }

    #[test]
    fn unknown_numbers_have_a_name() {
        let name = unsafe { CStr::from_ptr(clawsocket_result_name(-1)) };
        assert_eq!(name, c"unknown");
        let name = unsafe { CStr::from_ptr(clawsocket_result_name(2)) };
        assert_eq!(name, c"buffer_too_small");
    }
}
