//! The common frame read without serde: one flat object whose values are strings without
//! escapes, whole non-negative numbers, booleans or `null`.
//!
//! Anything else (a nested value, an escape, another kind of number, anything odd) makes
//! [`parse`] give up and the caller runs the full parser on the same text. So this path only
//! has to be right about what it accepts: exactly what serde_json accepts, read the same way.

use alloc::borrow::Cow;

use serde_json::Number;

use super::{Key, Loose, RawFrame};
use crate::outbound::clean_prefix;

/// Fills `frame` and returns true when `text` is a flat frame; false (with `frame` partly
/// filled) when the full parser must decide.
pub(super) fn parse<'a>(text: &'a str, frame: &mut RawFrame<'a>) -> bool {
    let b = text.as_bytes();
    let mut i = skip_space(b, 0);
    if b.get(i) != Some(&b'{') {
        return false;
    }
    i = skip_space(b, i + 1);
    if b.get(i) == Some(&b'}') {
        frame.is_object = true;
        return skip_space(b, i + 1) == b.len();
    }
    loop {
        let Some((name, next)) = plain_str(text, i) else {
            return false;
        };
        i = skip_space(b, next);
        if b.get(i) != Some(&b':') {
            return false;
        }
        i = skip_space(b, i + 1);
        let (value, next) = match b.get(i) {
            Some(b'"') => match plain_str(text, i) {
                Some((s, next)) => (Loose::Str(Cow::Borrowed(s)), next),
                None => return false,
            },
            Some(b't') if b[i..].starts_with(b"true") => (Loose::Bool(true), i + 4),
            Some(b'f') if b[i..].starts_with(b"false") => (Loose::Bool(false), i + 5),
            Some(b'n') if b[i..].starts_with(b"null") => (Loose::Null, i + 4),
            Some(b'0'..=b'9') => match whole_number(b, i) {
                Some((n, next)) => (Loose::Number(Number::from(n)), next),
                None => return false,
            },
            _ => return false,
        };
        frame.set(Key::from_name(name), value);
        i = skip_space(b, next);
        match b.get(i) {
            Some(b',') => i = skip_space(b, i + 1),
            Some(b'}') => {
                frame.is_object = true;
                return skip_space(b, i + 1) == b.len();
            }
            _ => return false,
        }
    }
}

/// JSON whitespace.
fn skip_space(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The string literal starting at `at` when it has no escapes, and the index after it.
fn plain_str(text: &str, at: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    let n = clean_prefix(b.get(start..)?);
    if b.get(start + n) != Some(&b'"') {
        return None; // an escape, a control byte, or no end
    }
    Some((text.get(start..start + n)?, start + n + 1))
}

/// A whole non-negative number that fits in u64, as serde_json reads it (no leading zero, no
/// fraction or exponent: those go to the full parser).
fn whole_number(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut i = at;
    let mut n: u64 = 0;
    while let Some(&d @ b'0'..=b'9') = b.get(i) {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        i += 1;
    }
    let leading_zero = b[at] == b'0' && i - at > 1;
    match b.get(i) {
        _ if leading_zero => None,
        Some(b'.' | b'e' | b'E') => None,
        _ => Some((n, i)),
    }
}
