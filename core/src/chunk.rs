//! Splitting a final reply into `chat.response` frames of at most `textChunkLimit` characters.
//!
//! A chunk ends after the last newline that fits; a run without newlines is cut at the limit.
//! Newlines are kept, so the chunks concatenated are exactly the reply.

use alloc::vec::Vec;

/// Splits `text` into chunks of at most `limit` characters (`limit` ≥ 1). An empty text is one
/// empty chunk, so every reply has a final frame.
pub fn split(text: &str, limit: usize) -> Vec<&str> {
    let limit = limit.max(1);
    let mut chunks = Vec::new();
    let mut rest = text;
    loop {
        // Byte offset just past `limit` characters, or None when the rest fits.
        let Some((cut, _)) = rest.char_indices().nth(limit) else {
            chunks.push(rest);
            return chunks;
        };
        let window = &rest[..cut];
        let end = match window.rfind('\n') {
            Some(nl) if nl > 0 => nl + 1,
            _ => cut,
        };
        chunks.push(&rest[..end]);
        rest = &rest[end..];
        if rest.is_empty() {
            return chunks;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_newlines_and_keeps_everything() {
        assert_eq!(split("", 4), [""]);
        assert_eq!(split("abcd", 4), ["abcd"]);
        assert_eq!(split("ab\ncd\nef", 6), ["ab\ncd\n", "ef"]);
        assert_eq!(split("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(split("\nabcdef", 3), ["\nab", "cde", "f"]);
        assert_eq!(split("中文字符", 2), ["中文", "字符"]);
        let text = "line one\nline two\nline three\n";
        assert_eq!(split(text, 10).concat(), text);
        assert!(split(text, 10).iter().all(|c| c.chars().count() <= 10));
    }
}
