//! Token verification for the core's `VerifyToken` events: POST to the seed's external verify
//! endpoint, or, in the generated-token mode, compare the token locally in constant time. The
//! core decides what the answer means; this module only carries it.

use std::time::Duration;

use serde_json::Value;

/// The result of one verification, handed back to the core.
#[derive(Debug)]
pub enum Verdict {
    /// An HTTP status and body (real or, for the local token, synthetic).
    Answer(u16, Vec<u8>),
    /// The service could not be reached.
    Unavailable,
}

/// Calls the external verify endpoint with the core's request body.
pub async fn verify_remote(
    http: &reqwest::Client,
    endpoint: &str,
    request: String,
    timeout_ms: u64,
) -> Verdict {
    // A little longer than the core's own deadline, so the core's timeout decides first.
    let timeout = Duration::from_millis(timeout_ms.saturating_add(250));
    let sent = http
        .post(endpoint)
        .header("content-type", "application/json")
        .body(request)
        .timeout(timeout)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(body) => Verdict::Answer(status, body.to_vec()),
                Err(_) => Verdict::Unavailable,
            }
        }
        Err(e) => {
            tracing::warn!(error = %without_url(&e), "auth service unavailable");
            Verdict::Unavailable
        }
    }
}

/// reqwest errors may print the URL; the endpoint is configuration, but keep logs minimal.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "request"
    };
    kind.to_owned()
}

/// The generated-token mode: the token in the request must equal `expected`. A match answers
/// as a verify service would, with the connection's `senderId` (or `local`) as the user.
pub fn verify_local(expected: &str, request: &str) -> Verdict {
    let parsed: Value = serde_json::from_str(request).unwrap_or(Value::Null);
    let token = parsed.get("token").and_then(Value::as_str).unwrap_or("");
    if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        let user = parsed
            .get("senderId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("local");
        let mut data = serde_json::Map::new();
        data.insert("userId".into(), Value::String(user.to_owned()));
        if let Some(name) = parsed
            .get("senderName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            data.insert("username".into(), Value::String(name.to_owned()));
        }
        let body = serde_json::json!({"success": true, "data": data});
        Verdict::Answer(200, body.to_string().into_bytes())
    } else {
        Verdict::Answer(
            401,
            br#"{"success":false,"error":"invalid_token"}"#.to_vec(),
        )
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i % b.len().max(1)).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn local_token() {
        match verify_local(
            "s3cret",
            r#"{"token":"s3cret","senderId":"alice","tokenType":"local"}"#,
        ) {
            Verdict::Answer(200, body) => assert!(String::from_utf8(body)
                .unwrap()
                .contains(r#""userId":"alice""#)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            verify_local("s3cret", r#"{"token":"nope"}"#),
            Verdict::Answer(401, _)
        ));
    }
}
