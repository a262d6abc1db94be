//! The seed's external token verification: the request the host POSTs and how the answer is
//! read. The HTTP call itself is the host's; the deadline is the core's.

use alloc::borrow::ToOwned;
use alloc::string::String;

use serde_json::{Map, Value};

use crate::error::ErrorCode;

/// Builds the verify request body: every URL parameter (the last value of a repeated one), plus
/// `tokenType` when the URL has none.
pub(crate) fn verify_request(query: &[(String, String)], default_token_type: &str) -> String {
    let mut body = Map::new();
    for (k, v) in query {
        body.insert(k.clone(), Value::String(v.clone()));
    }
    if !body.contains_key("tokenType") {
        body.insert(
            "tokenType".to_owned(),
            Value::String(default_token_type.to_owned()),
        );
    }
    serde_json::to_string(&Value::Object(body)).unwrap_or_default()
}

/// A verified identity from the auth service.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verified {
    pub user_id: String,
    pub username: Option<String>,
    pub data: Value,
}

/// Why verification failed: our stable code plus the seed's reason text
/// (`auth_failed`, `timeout`, `service_unavailable`, or the service's own `error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub code: ErrorCode,
    pub reason: String,
}

impl Failure {
    pub(crate) fn new(code: ErrorCode, reason: &str) -> Failure {
        Failure {
            code,
            reason: reason.to_owned(),
        }
    }
}

/// Reads the auth service's answer. Success needs a 2xx status, a JSON object with
/// `"success": true`, and `data.userId` as a non-empty string (numbers are accepted as text).
pub(crate) fn read_response(status: u16, body: &[u8]) -> Result<Verified, Failure> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let service_error: Option<String> = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .map(str::to_owned);
    if !(200..300).contains(&status) {
        if status >= 500 {
            return Err(Failure::new(
                ErrorCode::AuthUnavailable,
                "service_unavailable",
            ));
        }
        return Err(Failure::new(
            ErrorCode::AuthFailed,
            service_error.as_deref().unwrap_or("auth_failed"),
        ));
    }
    let Some(Value::Object(mut root)) = parsed else {
        return Err(Failure::new(ErrorCode::AuthFailed, "auth_failed"));
    };
    if root.get("success") != Some(&Value::Bool(true)) {
        return Err(Failure::new(
            ErrorCode::AuthFailed,
            service_error.as_deref().unwrap_or("auth_failed"),
        ));
    }
    let Some(Value::Object(data)) = root.remove("data") else {
        return Err(Failure::new(ErrorCode::AuthFailed, "auth_failed"));
    };
    let user_id = match data.get("userId") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => alloc::format!("{n}"),
        _ => return Err(Failure::new(ErrorCode::AuthFailed, "auth_failed")),
    };
    let username = data
        .get("username")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok(Verified {
        user_id,
        username,
        data: Value::Object(data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_has_every_param_and_token_type() {
        let q = [
            ("token".into(), "t1".into()),
            ("senderId".into(), "x".into()),
        ];
        assert_eq!(
            verify_request(&q, "local"),
            r#"{"senderId":"x","token":"t1","tokenType":"local"}"#
        );
        let q = [
            ("token".into(), "t".into()),
            ("tokenType".into(), "jwt".into()),
        ];
        assert_eq!(
            verify_request(&q, "local"),
            r#"{"token":"t","tokenType":"jwt"}"#
        );
    }

    #[test]
    fn responses() {
        let ok = read_response(
            200,
            br#"{"success":true,"data":{"userId":"u1","username":"Ann","role":"admin"}}"#,
        )
        .unwrap();
        assert_eq!(ok.user_id, "u1");
        assert_eq!(ok.username.as_deref(), Some("Ann"));
        assert_eq!(
            read_response(200, br#"{"success":true,"data":{"userId":42}}"#)
                .unwrap()
                .user_id,
            "42"
        );
        let cases: [(u16, &[u8], ErrorCode, &str); 7] = [
            (200, b"not json", ErrorCode::AuthFailed, "auth_failed"),
            (
                200,
                br#"{"success":false,"error":"token_expired"}"#,
                ErrorCode::AuthFailed,
                "token_expired",
            ),
            (
                200,
                br#"{"success":true,"data":{}}"#,
                ErrorCode::AuthFailed,
                "auth_failed",
            ),
            (
                200,
                br#"{"success":true}"#,
                ErrorCode::AuthFailed,
                "auth_failed",
            ),
            (
                401,
                br#"{"success":false,"error":"invalid_token"}"#,
                ErrorCode::AuthFailed,
                "invalid_token",
            ),
            (403, b"", ErrorCode::AuthFailed, "auth_failed"),
            (503, b"", ErrorCode::AuthUnavailable, "service_unavailable"),
        ];
        for (status, body, code, reason) in cases {
            assert_eq!(
                read_response(status, body).unwrap_err(),
                Failure::new(code, reason)
            );
        }
    }
}
