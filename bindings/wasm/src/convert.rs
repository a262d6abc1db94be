//! JSON from the page into core types, core types back into JSON for the page.
//! Field names follow the wire protocol (camelCase) and the C ABI's event JSON.

use clawsocket_core::{ClientEvent, ClientOptions, SendOptions, StreamMode};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// `{"senderId","senderName","token","protocol","stream":"delta"|"cumulative",
///   "messageIdPrefix","reconnectBaseMs","reconnectMaxMs"}`, every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OptionsJson {
    sender_id: Option<String>,
    sender_name: Option<String>,
    token: Option<String>,
    protocol: Option<u8>,
    stream: Option<String>,
    message_id_prefix: Option<String>,
    reconnect_base_ms: Option<u64>,
    reconnect_max_ms: Option<u64>,
}

/// Client options from the page's JSON (unset fields keep the core's defaults).
pub fn client_options(text: &str) -> Result<ClientOptions, String> {
    let json: OptionsJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let defaults = ClientOptions::default();
    let stream = match json.stream.as_deref() {
        None => defaults.stream,
        Some("delta") => StreamMode::Delta,
        Some("cumulative") => StreamMode::Cumulative,
        Some(other) => return Err(format!("stream: expected delta or cumulative, got {other}")),
    };
    Ok(ClientOptions {
        sender_id: json.sender_id,
        sender_name: json.sender_name,
        token: json.token,
        protocol: json.protocol.unwrap_or(defaults.protocol),
        stream,
        message_id_prefix: json.message_id_prefix.unwrap_or(defaults.message_id_prefix),
        reconnect_base_ms: json.reconnect_base_ms.unwrap_or(defaults.reconnect_base_ms),
        reconnect_max_ms: json.reconnect_max_ms.unwrap_or(defaults.reconnect_max_ms),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MediaJson {
    path: String,
    mime_type: Option<String>,
}

/// `{"content", "messageId", "senderId", "senderName", "groupId", "groupSubject",
///   "replyToMessageId", "replyToBody", "media":[{"path","mimeType"}], "customData":{}}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SendJson {
    content: String,
    message_id: Option<String>,
    sender_id: Option<String>,
    sender_name: Option<String>,
    group_id: Option<String>,
    group_subject: Option<String>,
    reply_to_message_id: Option<String>,
    reply_to_body: Option<String>,
    #[serde(default)]
    media: Vec<MediaJson>,
    custom_data: Option<Map<String, Value>>,
}

/// One message to send, from the page's JSON.
pub fn send_options(text: &str) -> Result<SendOptions, String> {
    let json: SendJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(SendOptions {
        content: json.content,
        message_id: json.message_id,
        sender_id: json.sender_id,
        sender_name: json.sender_name,
        group_id: json.group_id,
        group_subject: json.group_subject,
        reply_to_message_id: json.reply_to_message_id,
        reply_to_body: json.reply_to_body,
        media: json
            .media
            .into_iter()
            .map(|m| (m.path, m.mime_type))
            .collect(),
        custom_data: json.custom_data,
    })
}

/// `{"sessionKey", "limit", "cursor"}` of a history request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HistoryJson {
    /// Session (none: the connection's own).
    pub session_key: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

/// A history request from the page's JSON.
pub fn history_request(text: &str) -> Result<HistoryJson, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// The event as JSON, named like the C ABI's events (`{"event":"partial",...}`).
pub fn event_json(event: &ClientEvent) -> String {
    let value = match event {
        ClientEvent::Ready {
            protocol,
            sender_id,
            authenticated,
            session_key,
            heartbeat_ms,
        } => json!({"event": "ready", "protocol": protocol, "senderId": sender_id,
            "authenticated": authenticated, "sessionKey": session_key, "heartbeatMs": heartbeat_ms}),
        ClientEvent::Acked {
            message_id,
            duplicate,
        } => json!({"event": "acked", "messageId": message_id, "duplicate": duplicate}),
        ClientEvent::Typing {
            message_id,
            session_key,
        } => json!({"event": "typing", "messageId": message_id, "sessionKey": session_key}),
        ClientEvent::Partial {
            message_id,
            session_key,
            text,
        } => {
            json!({"event": "partial", "messageId": message_id, "sessionKey": session_key, "text": text})
        }
        ClientEvent::Reply {
            message_id,
            session_key,
            text,
            cancelled,
        } => json!({"event": "reply", "messageId": message_id, "sessionKey": session_key,
            "text": text, "cancelled": cancelled}),
        ClientEvent::Error {
            message_id,
            session_key,
            code: _,
            code_text,
            message,
            retryable,
            retry_after_ms,
        } => json!({"event": "error", "messageId": message_id, "sessionKey": session_key,
            "code": code_text, "message": message, "retryable": retryable,
            "retryAfterMs": retry_after_ms}),
        ClientEvent::ResumeGap { session_key } => {
            json!({"event": "resume_gap", "sessionKey": session_key})
        }
        ClientEvent::History { frame } => {
            // The frame as received; a frame that is not JSON cannot reach here (the core parsed it).
            let frame: Value = serde_json::from_str(frame).unwrap_or(Value::Null);
            json!({"event": "history", "frame": frame})
        }
        ClientEvent::Reconnect { attempt } => json!({"event": "reconnect", "attempt": attempt}),
        ClientEvent::Closed { code, reconnecting } => {
            json!({"event": "closed", "code": code, "reconnecting": reconnecting})
        }
    };
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_keep_core_defaults() {
        let o = client_options(r#"{"senderId":"u1","token":"t"}"#).unwrap();
        assert_eq!(o.sender_id.as_deref(), Some("u1"));
        assert_eq!(o.protocol, ClientOptions::default().protocol);
        assert!(client_options(r#"{"stream":"sideways"}"#).is_err());
        assert!(client_options(r#"{"tokn":"t"}"#).is_err());
    }

    #[test]
    fn send_options_carry_group_and_quote() {
        let s = send_options(
            r#"{"content":"hi","groupId":"g1","replyToMessageId":"m1","replyToBody":"q","media":[{"path":"a.png","mimeType":"image/png"}]}"#,
        )
        .unwrap();
        assert_eq!(s.group_id.as_deref(), Some("g1"));
        assert_eq!(s.reply_to_body.as_deref(), Some("q"));
        assert_eq!(s.media, vec![("a.png".into(), Some("image/png".into()))]);
    }

    #[test]
    fn events_render_with_wire_names() {
        let e = ClientEvent::Error {
            message_id: Some("m1".into()),
            session_key: Some("agent:main:websocket:group:team".into()),
            code: None,
            code_text: Some("busy".into()),
            message: "Session busy".into(),
            retryable: true,
            retry_after_ms: Some(500),
        };
        let v: Value = serde_json::from_str(&event_json(&e)).unwrap();
        assert_eq!(v["event"], "error");
        assert_eq!(v["code"], "busy");
        assert_eq!(v["retryAfterMs"], 500);
        assert_eq!(v["sessionKey"], "agent:main:websocket:group:team");
    }
}
