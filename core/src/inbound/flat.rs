//! The common frame read without serde: one flat object whose values are strings without
//! escapes, whole non-negative numbers, booleans or `null`.
//!
//! Anything else (a nested value, an escape, another kind of number, anything odd) makes
//! [`parse`] give up and the caller runs the full parser on the same text. So this path only
//! has to be right about what it accepts: exactly what serde_json accepts, read the same way.

use serde_json::Number;

use super::{Key, Loose, RawFrame};
use crate::outbound::{escape_mask, load_word};

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
        let (key, end) = match known_key(b, i + 1) {
            Some(found) => found,
            None => match string_end(b, i + 1) {
                // Not a name this core reads (names with escapes go to the full parser).
                Some(end) => (Key::Other, end),
                None => return false,
            },
        };
        let Some(after_colon) = expect(b, end + 1, b':') else {
            return false;
        };
        i = after_colon;
        if b.get(i).is_some_and(|&c| c <= b' ') {
            i = skip_space(b, i);
        }
        // A plain string goes into the frame as it is read; any other value after the match.
        let value = match b.get(i) {
            Some(b'"') => {
                let Some(end) = string_end(b, i + 1) else {
                    return false;
                };
                // Both ends are ASCII quotes of a valid UTF-8 text: always char boundaries.
                let Some(s) = text.get(i + 1..end) else {
                    return false;
                };
                if !frame.set_str(key, s) {
                    return false;
                }
                i = end + 1;
                None
            }
            Some(b't') if b[i..].starts_with(b"true") => {
                i += 4;
                Some(Loose::Bool(true))
            }
            Some(b'f') if b[i..].starts_with(b"false") => {
                i += 5;
                Some(Loose::Bool(false))
            }
            Some(b'n') if b[i..].starts_with(b"null") => {
                i += 4;
                Some(Loose::Null)
            }
            Some(b'0'..=b'9') => match whole_number(b, i) {
                Some((n, next)) => {
                    i = next;
                    Some(Loose::Number(Number::from(n)))
                }
                None => return false,
            },
            _ => return false,
        };
        if let Some(value) = value {
            frame.set(key, value);
        }
        if b.get(i).is_some_and(|&c| c <= b' ') {
            i = skip_space(b, i);
        }
        match b.get(i) {
            Some(b',') => {
                i += 1;
                if b.get(i).is_some_and(|&c| c <= b' ') {
                    i = skip_space(b, i);
                }
            }
            Some(b'}') => {
                frame.is_object = true;
                return skip_space(b, i + 1) == b.len();
            }
            _ => return false,
        }
    }
}

/// The known key whose name, then a closing quote, starts at `start`, and the index of that
/// quote: the first byte picks the few candidates, each compared whole.
#[inline(always)]
fn known_key(b: &[u8], start: usize) -> Option<(Key, usize)> {
    let rest = b.get(start..)?;
    macro_rules! candidates {
        ($($name:literal => $key:ident),+) => {{
            $(
                if rest.starts_with(concat!($name, "\"").as_bytes()) {
                    return Some((Key::$key, start + $name.len()));
                }
            )+
            None
        }};
    }
    match rest.first()? {
        b't' => candidates!("type" => Type),
        b'c' => candidates!(
            "content" => Content,
            "chatType" => ChatType,
            "customData" => CustomData,
            "cursor" => Cursor
        ),
        b's' => candidates!(
            "senderName" => SenderName,
            "senderId" => SenderId,
            "sessionKey" => Session,
            "stream" => Stream
        ),
        b'm' => candidates!(
            "messageId" => MessageId,
            "mediaPath" => MediaPath,
            "mediaType" => MediaType,
            "mediaPaths" => MediaPaths,
            "mediaTypes" => MediaTypes
        ),
        b'g' => candidates!("groupId" => GroupId, "groupSubject" => GroupSubject),
        b'r' => candidates!(
            "replyToMessageId" => ReplyToMessageId,
            "replyToBody" => ReplyToBody
        ),
        b'p' => candidates!("protocol" => Protocol),
        b'l' => candidates!("lastSeq" => LastSeq, "limit" => Limit),
        b'i' => candidates!("id" => Id),
        _ => None,
    }
}

/// The index after `want` at `i`, JSON whitespace allowed before it.
#[inline(always)]
fn expect(b: &[u8], i: usize, want: u8) -> Option<usize> {
    if b.get(i) == Some(&want) {
        return Some(i + 1); // compact frames: no whitespace
    }
    let i = skip_space(b, i);
    (b.get(i) == Some(&want)).then_some(i + 1)
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
    while let Some(word) = load_word(b, i) {
        let mask = escape_mask(word);
        if mask != 0 {
            let at = i + (mask.trailing_zeros() / 8) as usize;
            return (b[at] == b'"').then_some(at);
        }
        i += 8;
    }
    if let Some(base) = b
        .len()
        .checked_sub(8)
        .filter(|&base| base < i && i < b.len())
    {
        // Fewer than eight bytes left: the frame's last eight, shifted past those before `i`
        // (so none of them can make a byte after it look like one that needs escaping). The
        // zero bytes shifted in count as control characters, past the end of the frame.
        let word = load_word(b, base).unwrap_or(0) >> (8 * (i - base));
        let at = i + (escape_mask(word).trailing_zeros() / 8) as usize;
        return (b.get(at) == Some(&b'"')).then_some(at);
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
