//! Names: URL query decoding, session keys, agent ids.
//!
//! Session keys follow OpenClaw's shape, `agent:<agentId>:websocket:direct:<peer>` and
//! `agent:<agentId>:websocket:group:<groupId>`. Peer and group ids are encoded so that the
//! mapping is injective (two different ids never share a session) and the result is already
//! lowercase (OpenClaw lowercases keys; lowercasing ours changes nothing).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use sha2::{Digest, Sha256};

/// Decodes an `application/x-www-form-urlencoded` query (with or without a leading `?`) into
/// its pairs, in order. Invalid escapes are kept literally; invalid UTF-8 is replaced.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    let query = query.strip_prefix('?').unwrap_or(query);
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Encodes one id for use inside a session key: `[a-z0-9_.-]` stay, every other byte becomes
/// `%` and two lowercase hex digits. Injective, and stable under lowercasing.
pub fn encode_key_part(id: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = id.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-') {
            continue;
        }
        // Runs of kept bytes are ASCII, so both ends of the slice are char boundaries.
        if start < i {
            out.push_str(&id[start..i]);
        }
        out.push('%');
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
        start = i + 1;
    }
    if start < bytes.len() {
        out.push_str(&id[start..]);
    }
}

/// The session key of a direct conversation with `peer`.
pub fn direct_session_key(agent_id: &str, peer: &str) -> String {
    let mut key = String::with_capacity(32 + agent_id.len() + peer.len());
    push_direct_session_key(&mut key, agent_id, peer);
    key
}

/// Appends the session key of the direct chat with `peer`.
pub(crate) fn push_direct_session_key(out: &mut String, agent_id: &str, peer: &str) {
    out.push_str("agent:");
    out.push_str(agent_id);
    out.push_str(":websocket:direct:");
    encode_key_part(peer, out);
}

/// The session key of group `group_id`.
pub fn group_session_key(agent_id: &str, group_id: &str) -> String {
    let mut key = String::with_capacity(32 + agent_id.len() + group_id.len());
    push_group_session_key(&mut key, agent_id, group_id);
    key
}

/// Appends the session key of group `group_id`.
pub(crate) fn push_group_session_key(out: &mut String, agent_id: &str, group_id: &str) {
    out.push_str("agent:");
    out.push_str(agent_id);
    out.push_str(":websocket:group:");
    encode_key_part(group_id, out);
}

/// Whether `id` is a valid OpenClaw agent id: `[a-z0-9][a-z0-9_-]{0,63}`. Such an id is also
/// safe as a single directory name (no separators, no dots, not empty).
pub fn is_agent_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// The dynamic agent id for direct sender `sender_id`: `ws-<senderId>` when the id is already
/// made of `[a-z0-9-]` and short enough, otherwise `ws-<readable prefix>_<hash>`. The `_` only
/// appears in hashed ids, so the two forms cannot collide, and no id can name a path outside
/// the workspace root.
pub fn dynamic_agent_id(sender_id: &str) -> String {
    let plain = !sender_id.is_empty()
        && sender_id.len() <= 61
        && sender_id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    let mut id = String::with_capacity(64);
    id.push_str("ws-");
    if plain {
        id.push_str(sender_id);
        return id;
    }
    for c in sender_id.chars().take(40) {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            id.push(c);
        }
    }
    id.push('_');
    let digest = Sha256::digest(sender_id.as_bytes());
    for byte in &digest[..8] {
        let _ = write!(id, "{byte:02x}");
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query(
            "?senderId=user%201&senderName=John+Doe&token=a%2Bb&flag&bad=%zz&x=%e4%b8%ad",
        );
        assert_eq!(
            q,
            [
                ("senderId".into(), "user 1".into()),
                ("senderName".into(), "John Doe".into()),
                ("token".into(), "a+b".into()),
                ("flag".into(), "".into()),
                ("bad".into(), "%zz".into()),
                ("x".into(), "中".into()),
            ]
        );
        assert_eq!(parse_query("a=%"), [("a".into(), "%".into())]);
        assert_eq!(parse_query("a=%4"), [("a".into(), "%4".into())]);
    }

    #[test]
    fn keys_are_injective_and_lowercase() {
        assert_eq!(
            direct_session_key("main", "user1"),
            "agent:main:websocket:direct:user1"
        );
        assert_eq!(
            direct_session_key("main", "Bob"),
            "agent:main:websocket:direct:%42ob"
        );
        assert_ne!(
            direct_session_key("main", "a:b"),
            group_session_key("main", "a:b")
        );
        assert_eq!(
            group_session_key("main", "dev team"),
            "agent:main:websocket:group:dev%20team"
        );
        assert_ne!(
            direct_session_key("main", "a%3a"),
            direct_session_key("main", "a:")
        );
        // Multi-byte characters are encoded byte by byte, wherever they sit.
        for (id, encoded) in [
            ("中", "%e4%b8%ad"),
            ("a中b", "a%e4%b8%adb"),
            ("é.x", "%c3%a9.x"),
            ("x_y-z.0", "x_y-z.0"),
            ("", ""),
        ] {
            let mut out = String::new();
            encode_key_part(id, &mut out);
            assert_eq!(out, encoded);
        }
    }

    #[test]
    fn dynamic_ids_are_safe_directory_names() {
        assert_eq!(dynamic_agent_id("user1"), "ws-user1");
        for hostile in [
            "../etc",
            "/root",
            "a/../../b",
            "..",
            "",
            "User1",
            "a_b",
            "ws_x",
        ] {
            let id = dynamic_agent_id(hostile);
            assert!(is_agent_id(&id), "{hostile:?} -> {id:?}");
            assert!(id.contains('_'), "{hostile:?} -> {id:?}");
        }
        assert_ne!(dynamic_agent_id("User1"), dynamic_agent_id("user1"));
        assert!(is_agent_id(&dynamic_agent_id(&"x".repeat(500))));
    }
}
