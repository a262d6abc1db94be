//! Building server frames as compact JSON text with a fixed field order.
//!
//! Frames are written directly into one `String` (no intermediate values): this is the hot path
//! of every reply. The field order is part of the byte-exact contract checked by the vectors.

use alloc::string::String;

use crate::error::ErrorCode;

/// A v2 frame's position: its seq and the session it belongs to. `None` for v1 frames.
pub(crate) type Seq<'a> = Option<(u64, &'a str)>;

/// Writes a JSON object field by field.
pub(crate) struct ObjectWriter {
    out: String,
}

impl ObjectWriter {
    /// Starts a frame `{"type":"<kind>"`. Kinds are the protocol's fixed names: nothing to escape.
    pub(crate) fn frame(kind: &'static str, capacity: usize) -> ObjectWriter {
        debug_assert!(!kind.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20));
        let mut out = String::with_capacity(capacity + 16 + kind.len());
        out.push_str("{\"type\":\"");
        out.push_str(kind);
        out.push('"');
        ObjectWriter { out }
    }

    /// Starts an empty object.
    pub(crate) fn object(capacity: usize) -> ObjectWriter {
        let mut out = String::with_capacity(capacity);
        out.push('{');
        ObjectWriter { out }
    }

    fn key(&mut self, key: &str) {
        let open = if self.out.ends_with('{') { "\"" } else { ",\"" };
        self.out.push_str(open);
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    pub(crate) fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        write_json_str(&mut self.out, value);
        self
    }

    pub(crate) fn opt_str(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.str(key, v),
            None => self,
        }
    }

    pub(crate) fn u64(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        push_u64(&mut self.out, value);
        self
    }

    pub(crate) fn opt_u64(self, key: &str, value: Option<u64>) -> Self {
        match value {
            Some(v) => self.u64(key, v),
            None => self,
        }
    }

    /// `"sessionKey":..,"seq":n` on v2 session frames (a connection may follow several sessions).
    pub(crate) fn seq(self, seq: Seq<'_>) -> Self {
        match seq {
            Some((n, key)) => self.str("sessionKey", key).u64("seq", n),
            None => self,
        }
    }

    pub(crate) fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// Writes pre-rendered JSON (an object or array this module built).
    pub(crate) fn raw(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.out.push_str(json);
        self
    }

    pub(crate) fn str_array<'a>(
        mut self,
        key: &str,
        items: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        self.key(key);
        self.out.push('[');
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            write_json_str(&mut self.out, item);
        }
        self.out.push(']');
        self
    }

    pub(crate) fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Appends the decimal digits of `value` (without going through `core::fmt`, which is slow
/// for something this small and this frequent).
#[inline]
pub(crate) fn push_u64(out: &mut String, value: u64) {
    out.push_str(itoa::Buffer::new().format(value));
}

/// Appends `s` as a JSON string literal, escaping exactly as serde_json does.
pub(crate) fn write_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// Appends the inside of `s` as a JSON string literal (no quotes), escaping exactly as
/// serde_json does. The frame writers put the quotes into their fixed text.
#[inline]
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    // Most text needs no escaping at all: find where escaping might start, eight bytes at a
    // time, and copy everything before it in one go.
    let clean = clean_prefix(bytes);
    if clean == bytes.len() {
        out.push_str(s);
        return;
    }
    let (mut start, mut i) = (0, clean);
    while i < bytes.len() {
        let escape: &str = match bytes[i] {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(bytes[i] >> 4)]));
            out.push(char::from(HEX[usize::from(bytes[i] & 0xf)]));
        } else {
            out.push_str(escape);
        }
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
}

/// The length of the longest prefix that needs no escaping: the index of the first control
/// character, `"` or `\\`, or the whole length. Eight bytes at a time.
#[inline]
pub(crate) fn clean_prefix(bytes: &[u8]) -> usize {
    let n = bytes.len();
    let mut i = 0;
    while let Some(word) = load_word(bytes, i) {
        let mask = escape_mask(word);
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    if n >= 8 {
        // The last eight bytes, overlapping what was checked: the lowest flagged byte is still
        // the first one, and it lies at or after `i`.
        let mask = load_word(bytes, n - 8).map_or(0, escape_mask);
        return if mask == 0 {
            n
        } else {
            n - 8 + (mask.trailing_zeros() / 8) as usize
        };
    }
    while let Some(&b) = bytes.get(i) {
        if b < 0x20 || b == b'"' || b == b'\\' {
            break;
        }
        i += 1;
    }
    i
}

/// The eight bytes at `at`, little-endian, when there are eight.
#[inline(always)]
pub(crate) fn load_word(bytes: &[u8], at: usize) -> Option<u64> {
    let word: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(word))
}

/// The high bit of each byte that is a control character, `"` or `\\`, plus possibly bytes
/// above such a byte: the classic "has a byte less than n" bit trick only errs upwards, past a
/// borrow, so the lowest bit set is always exact.
#[inline(always)]
pub(crate) fn escape_mask(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    below(word, 0x20) | below(quote, 1) | below(backslash, 1)
}

/// Appends `"sessionKey":..,"seq":n` of a v2 session frame, after a comma.
#[inline]
fn push_seq(out: &mut String, seq: Seq<'_>) {
    if let Some((n, key)) = seq {
        out.push_str(",\"sessionKey\":");
        write_json_str(out, key);
        out.push_str(",\"seq\":");
        push_u64(out, n);
    }
}

/// Room for the `sessionKey` and `seq` of a v2 frame.
fn seq_len(seq: Seq<'_>) -> usize {
    seq.map_or(0, |(_, key)| key.len() + 40)
}

// The frames of every reply (typing, stream, response) are written out rather than through
// ObjectWriter: they are the hot path, and their shape is fixed.

/// `chat.typing` for one message, appended to `out`.
pub(crate) fn typing(out: &mut String, message_id: &str, seq: Seq<'_>) {
    out.reserve(40 + message_id.len() + seq_len(seq));
    out.push_str("{\"type\":\"chat.typing\",\"messageId\":\"");
    push_escaped(out, message_id);
    match seq {
        None => out.push_str("\"}"),
        Some(_) => {
            out.push('"');
            push_seq(out, seq);
            out.push('}');
        }
    }
}

/// `chat.stream` (`done:false`) carrying `content` (cumulative, or a delta in v2 delta mode),
/// appended to `out`.
pub(crate) fn stream(out: &mut String, message_id: &str, content: &str, seq: Seq<'_>) {
    out.reserve(64 + message_id.len() + content.len() + seq_len(seq));
    out.push_str("{\"type\":\"chat.stream\",\"messageId\":\"");
    push_escaped(out, message_id);
    out.push_str("\",\"content\":\"");
    push_escaped(out, content);
    out.push_str("\",\"done\":false");
    push_seq(out, seq);
    out.push('}');
}

/// One `chat.response` frame of a final reply split into `chunks` parts (`index` from 1).
pub(crate) struct ResponseFrame<'a> {
    pub message_id: &'a str,
    pub content: &'a str,
    pub index: usize,
    pub chunks: usize,
    pub cancelled: bool,
    pub seq: Seq<'a>,
}

/// The frame `f`, appended to `out`.
pub(crate) fn response(out: &mut String, f: &ResponseFrame<'_>) {
    let last = f.index == f.chunks;
    out.reserve(96 + f.message_id.len() + f.content.len() + seq_len(f.seq));
    out.push_str("{\"type\":\"chat.response\",\"messageId\":\"");
    push_escaped(out, f.message_id);
    out.push_str("\",\"content\":\"");
    push_escaped(out, f.content);
    out.push_str(if last {
        "\",\"done\":true"
    } else {
        "\",\"done\":false"
    });
    if f.chunks > 1 {
        out.push_str(",\"chunk\":");
        push_u64(out, f.index as u64);
        out.push_str(",\"chunks\":");
        push_u64(out, f.chunks as u64);
    }
    if f.cancelled && last {
        out.push_str(",\"cancelled\":true");
    }
    push_seq(out, f.seq);
    out.push('}');
}

/// The seed's greeting, kept for clients that expect it (`greeting: true`).
pub(crate) fn greeting() -> String {
    ObjectWriter::frame("chat.response", 48)
        .str("content", "Connected to WebSocket chat server")
        .finish()
}

/// Optional parts of a `chat.error` frame.
#[derive(Default)]
pub(crate) struct ErrorExtras<'a> {
    pub message_id: Option<&'a str>,
    pub retry_after_ms: Option<u64>,
    pub pairing_code: Option<&'a str>,
    pub seq: Seq<'a>,
}

/// `chat.error` with its stable `code`.
pub(crate) fn error(code: ErrorCode, text: &str, extras: &ErrorExtras<'_>) -> String {
    let mut w = ObjectWriter::frame("chat.error", 64 + text.len())
        .opt_str("messageId", extras.message_id)
        .str("error", text)
        .str("code", code.as_str());
    if code.retryable() {
        w = w.bool("retryable", true);
    }
    w.opt_u64("retryAfterMs", extras.retry_after_ms)
        .opt_str("pairingCode", extras.pairing_code)
        .seq(extras.seq)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn escaping_matches_serde_json() {
        for s in [
            "plain",
            "quote\"back\\slash",
            "nl\ncr\rtab\t",
            "\u{0}\u{1f}\u{8}\u{c}\u{7f}",
            "中文 🦀",
            "</script>",
            "a long line of plain text, then a \" quote at byte 34",
            "eight!!!\u{1}eight!!!\\",
            "é\u{9f}\u{80}ÿ\u{ff}x\"",
            "",
            "abcdefgh",
            "abcdefgh\"",
            "1234567\n",
            "abcdefghijklmnop\u{1}",
            "\u{1}bcdefghijklmnop",
        ] {
            let mut ours = String::new();
            write_json_str(&mut ours, s);
            assert_eq!(ours, serde_json::to_string(s).unwrap());
            let first = s.bytes().position(|b| b < 0x20 || b == b'"' || b == b'\\');
            assert_eq!(
                clean_prefix(s.as_bytes()),
                first.unwrap_or(s.len()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn frames() {
        // Frames are appended to what the buffer already holds.
        let written = |write: &dyn Fn(&mut String)| {
            let mut out = String::from("before");
            write(&mut out);
            out.split_off(6)
        };
        assert_eq!(
            written(&|out| typing(out, "m1", None)),
            r#"{"type":"chat.typing","messageId":"m1"}"#
        );
        assert_eq!(
            written(&|out| typing(out, "m\"1", Some((7, "k")))),
            r#"{"type":"chat.typing","messageId":"m\"1","sessionKey":"k","seq":7}"#
        );
        assert_eq!(
            written(&|out| stream(out, "m1", "Hi", Some((3, "k")))),
            r#"{"type":"chat.stream","messageId":"m1","content":"Hi","done":false,"sessionKey":"k","seq":3}"#
        );
        let e = error(
            ErrorCode::Busy,
            "busy",
            &ErrorExtras {
                retry_after_ms: Some(5),
                ..Default::default()
            },
        );
        assert_eq!(
            e,
            r#"{"type":"chat.error","error":"busy","code":"busy","retryable":true,"retryAfterMs":5}"#
        );
        assert_eq!(ObjectWriter::object(4).finish(), "{}".to_string());
        for n in [0, 7, 10, 99, 100, 1005, 12345, 1234567890, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}
