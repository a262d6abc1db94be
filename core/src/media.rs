//! Media references from remote clients. A remote peer must never make the host read a local
//! file it chose: only http(s) URLs and relative paths (resolved by the host under its media
//! root) are accepted, and a relative path can never climb out with `..`.

use alloc::string::String;

/// How a media reference names its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// An `http://` or `https://` URL, passed through to the agent.
    Url,
    /// A relative path the host resolves under its configured media root.
    Path,
}

/// One accepted media attachment of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// URL or relative path.
    pub kind: MediaKind,
    /// The reference as the client sent it.
    pub location: String,
    /// MIME type, when the client gave one.
    pub mime_type: Option<String>,
}

/// Most attachments one message may carry.
pub const MAX_MEDIA: usize = 32;

/// Classifies a reference, or `None` when it must be refused.
pub fn classify(reference: &str) -> Option<MediaKind> {
    if reference.is_empty() || reference.len() > 4096 {
        return None;
    }
    if reference.chars().any(|c| c.is_control()) {
        return None;
    }
    if let Some(rest) = strip_prefix_ignore_case(reference, "https://")
        .or_else(|| strip_prefix_ignore_case(reference, "http://"))
    {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        return (!host.is_empty() && !reference.contains(char::is_whitespace))
            .then_some(MediaKind::Url);
    }
    // Absolute paths, home paths, Windows separators, drive letters and any other scheme
    // (`file:`, `data:`) are refused; so is every `..` segment.
    if reference.starts_with(['/', '~']) || reference.contains(['\\', ':']) {
        return None;
    }
    if reference.split('/').any(|segment| segment == "..") {
        return None;
    }
    Some(MediaKind::Path)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        assert_eq!(
            classify("https://cdn.example.com/a.png"),
            Some(MediaKind::Url)
        );
        assert_eq!(classify("HTTP://host"), Some(MediaKind::Url));
        assert_eq!(classify("uploads/a.png"), Some(MediaKind::Path));
        assert_eq!(classify("a..b/c.png"), Some(MediaKind::Path));
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "/etc/passwd",
            "~/.ssh/id_rsa",
            "../secret",
            "a/../../b",
            "a/..",
            "C:\\x",
            "c:/x",
            "file:///etc/passwd",
            "data:text/plain,hi",
            "a\\..\\b",
            "https://",
            "http:///x",
            "https://a b",
            "a\u{0}b",
            "ftp://host/x",
        ] {
            assert_eq!(classify(bad), None, "{bad:?}");
        }
    }
}
