//! Errors thrown to JavaScript carry the core's stable code in `err.code`.

use clawsocket_core::{ClientError, ConfigError, UsageError};

/// The `code` of a thrown error: one of the core's stable short names.
#[derive(Debug, Clone, Copy)]
pub struct Code(pub &'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// A JavaScript `Error` whose `code` is a stable name.
pub type JsError = napi::Error<Code>;

pub fn usage(err: UsageError) -> JsError {
    JsError::new(Code(err.as_str()), err.to_string())
}

pub fn client(err: ClientError) -> JsError {
    JsError::new(Code(err.as_str()), err.to_string())
}

pub fn config(err: ConfigError) -> JsError {
    JsError::new(Code("invalid_config"), err.to_string())
}

/// An argument JavaScript passed cannot be used (wrong shape, not an id).
pub fn argument(message: impl Into<String>) -> JsError {
    JsError::new(Code("invalid_argument"), message.into())
}
