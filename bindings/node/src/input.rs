//! Conversions of JavaScript arguments shared by the classes.

use napi::bindgen_prelude::{BufferSlice, Either};

/// The bytes of text given as a JavaScript string or a `Buffer` (as `ws` delivers frames).
pub fn bytes<'s>(data: &'s Either<String, BufferSlice<'_>>) -> &'s [u8] {
    match data {
        Either::A(text) => text.as_bytes(),
        Either::B(buffer) => buffer,
    }
}

/// Milliseconds from the host's clock; JavaScript numbers below zero count as zero.
pub fn millis(now: i64) -> u64 {
    u64::try_from(now).unwrap_or(0)
}

/// An id the core issued (connection, turn, request); negative numbers name nothing.
pub fn id(value: i64) -> u64 {
    // 0 is never issued, so the core answers with its own "unknown ..." usage error.
    u64::try_from(value).unwrap_or(0)
}

/// A core number for JavaScript (ids and deadlines stay far below 2^53).
pub fn number(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
