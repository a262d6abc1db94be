//! The common frame read without serde: one flat object whose values are strings without
//! escapes, whole non-negative numbers, booleans or `null`.
//!
//! Anything else (a nested value, an escape, another kind of number, anything odd) makes
//! [`parse`] give up and the caller runs the full parser on the same text. So this path only
//! has to be right about what it accepts: exactly what serde_json accepts, read the same way.

use serde_json::Number;

use super::{Key, Loose, RawFrame};
use crate::outbound::escape_mask;

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
        if b.get(i) != Some(&b'"') {
            return false;
        }
        let Some(end) = string_end(b, i + 1) else {
            return false;
        };
        let key = Key::from_name_bytes(&b[i + 1..end]);
        i = skip_space(b, end + 1);
        if b.get(i) != Some(&b':') {
            return false;
        }
        i = skip_space(b, i + 1);
        let value = match b.get(i) {
            Some(b'"') => {
                let Some(end) = string_end(b, i + 1) else {
                    return false;
                };
                // Both ends are ASCII quotes of a valid UTF-8 text: always char boundaries.
                let Some(s) = text.get(i + 1..end) else {
                    return false;
                };
                frame.set_str(key, s);
                i = skip_space(b, end + 1);
                match b.get(i) {
                    Some(b',') => {
                        i = skip_space(b, i + 1);
                        continue;
                    }
                    Some(b'}') => {
                        frame.is_object = true;
                        return skip_space(b, i + 1) == b.len();
                    }
                    _ => return false,
                }
            }
            Some(b't') if b[i..].starts_with(b"true") => {
                i += 4;
                Loose::Bool(true)
            }
            Some(b'f') if b[i..].starts_with(b"false") => {
                i += 5;
                Loose::Bool(false)
            }
            Some(b'n') if b[i..].starts_with(b"null") => {
                i += 4;
                Loose::Null
            }
            Some(b'0'..=b'9') => match whole_number(b, i) {
                Some((n, next)) => {
                    i = next;
                    Loose::Number(Number::from(n))
                }
                None => return false,
            },
            _ => return false,
        };
        frame.set(key, value);
        i = skip_space(b, i);
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

/// JSON whitespace. Compact frames have none, so the first test usually ends it.
#[inline(always)]
fn skip_space(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if c > b' ' || !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            break;
        }
        i += 1;
    }
    i
}

/// The index of the quote that ends the string whose text starts at `i`, when the string has
/// no escapes and no control characters. Eight bytes at a time while eight remain.
#[inline(always)]
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    while let Some(word) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let mask = escape_mask(u64::from_le_bytes(w));
        if mask != 0 {
            let at = i + (mask.trailing_zeros() / 8) as usize;
            return (b[at] == b'"').then_some(at);
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => return Some(i),
            b'\\' | 0..=0x1f => return None,
            _ => i += 1,
        }
    }
    None
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
