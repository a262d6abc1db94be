//! OpenClaw's chat vocabulary mapped to clawsocket's: session keys, `chat` event payloads,
//! `errorKind` to error codes, and history messages.

use clawsocket_core::{AgentFailure, HistoryMessage, Turn};
use serde_json::Value;

/// The gateway session key for a clawsocket session key: the same
/// `agent:<id>:websocket:<direct|group>:<peer>` shape with the configured OpenClaw agent
/// in the agent part. The core's keys are already lowercase and injective (uppercase is
/// escaped), so the gateway's lowercasing never merges two clawsocket sessions.
pub fn gateway_session_key(clawsocket_key: &str, openclaw_agent: &str) -> String {
    let rest = clawsocket_key
        .strip_prefix("agent:")
        .and_then(|r| r.split_once(':'))
        .map(|(_, rest)| rest)
        .unwrap_or(clawsocket_key);
    format!("agent:{openclaw_agent}:{rest}")
}

/// The gateway idempotency key (and run id) of a turn: `cs:<receivedAt>-<turn>:<messageId>`.
/// The message id alone is not unique enough: protocol 1 clients may reuse ids and the
/// core's generated `msg-<n>` restart with the server, and the gateway would answer a
/// repeated key with "already done" instead of running the new message.
pub fn idempotency_key(turn: &Turn) -> String {
    format!(
        "cs:{}-{}:{}",
        turn.received_at(),
        turn.id().0,
        turn.message_id()
    )
}

/// The clawsocket message id inside an [`idempotency_key`] (`None` for other keys).
pub fn message_id_of_key(key: &str) -> Option<&str> {
    key.strip_prefix("cs:")?.split_once(':').map(|(_, id)| id)
}

/// The text of an OpenClaw message: a string `content`, or the `text` parts of a list.
pub fn message_text(message: &Value) -> Option<String> {
    match &message["content"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect::<String>(),
        ),
        _ => message["text"].as_str().map(str::to_owned),
    }
}

/// One `chat` event, as the turn needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatUpdate {
    /// More text: `delta` is only the new part (protocol 4), `text` the whole text so far.
    Delta {
        /// `deltaText`, when the gateway sent it.
        delta: Option<String>,
        /// `deltaText` replaces everything streamed so far.
        replace: bool,
        /// The cumulative message text.
        text: Option<String>,
    },
    /// The run finished; the final text when the gateway sent a message.
    Final(Option<String>),
    /// The run was aborted; the partial text.
    Aborted(Option<String>),
    /// The run failed.
    Error {
        /// `errorKind` (`unknown` when absent).
        kind: String,
        /// `errorMessage`.
        message: String,
    },
}

/// Reads a `chat` event payload: its run id and what happened (`None`: an unknown state).
pub fn parse_event(payload: &Value) -> Option<(Option<String>, ChatUpdate)> {
    let run = payload["runId"].as_str().map(str::to_owned);
    let text = message_text(&payload["message"]);
    let update = match payload["state"].as_str()? {
        "delta" => ChatUpdate::Delta {
            delta: payload["deltaText"].as_str().map(str::to_owned),
            replace: payload["replace"] == true,
            text,
        },
        "final" => ChatUpdate::Final(text),
        "aborted" => ChatUpdate::Aborted(text),
        "error" => ChatUpdate::Error {
            kind: payload["errorKind"]
                .as_str()
                .unwrap_or("unknown")
                .to_owned(),
            message: payload["errorMessage"]
                .as_str()
                .unwrap_or("the agent failed")
                .to_owned(),
        },
        _ => return None,
    };
    Some((run, update))
}

/// How an OpenClaw `errorKind` fails the turn: the code the client sees.
pub fn failure(kind: &str) -> AgentFailure {
    match kind {
        "timeout" => AgentFailure::TimedOut,
        "rate_limit" => AgentFailure::RateLimited,
        // refusal, context_length, unknown and kinds newer gateways may add.
        _ => AgentFailure::Failed,
    }
}

/// The `chat.error` text for a failed run: the gateway's message, with the `errorKind` kept
/// for kinds that share a code (refusal, context_length).
pub fn error_text(kind: &str, message: &str) -> String {
    format!("OpenClaw agent error (errorKind {kind}): {message}")
}

/// A gateway history message as a clawsocket history message (`None`: nothing to show,
/// such as a tool result).
pub fn history_message(message: &Value, fallback_id: String) -> Option<HistoryMessage> {
    let role = message["role"].as_str()?;
    if role != "user" && role != "assistant" {
        return None;
    }
    let content = message_text(message).filter(|t| !t.is_empty())?;
    // The gateway stores our idempotency key as `<key>:<role>` and uses it as the run id of
    // the reply; both carry the clawsocket message id, which the store files replies under.
    let ours = message["idempotencyKey"]
        .as_str()
        .map(|k| k.strip_suffix(&format!(":{role}")).unwrap_or(k))
        .or(message["__openclaw"]["runId"].as_str())
        .and_then(message_id_of_key);
    let id = ours
        .or(message["__openclaw"]["id"].as_str())
        .or(message["id"].as_str())
        .map(str::to_owned)
        .unwrap_or(fallback_id);
    Some(HistoryMessage {
        message_id: id,
        role: role.to_owned(),
        sender_id: None,
        sender_name: None,
        content,
        at: message["timestamp"]
            .as_u64()
            .or(message["ts"].as_u64())
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawsocket_core::ErrorCode;
    use serde_json::json;

    #[test]
    fn session_keys_take_the_openclaw_agent() {
        assert_eq!(
            gateway_session_key("agent:ws-alice:websocket:direct:%41lice", "main"),
            "agent:main:websocket:direct:%41lice"
        );
        assert_eq!(
            gateway_session_key("agent:main:websocket:group:g1", "ops"),
            "agent:ops:websocket:group:g1"
        );
    }

    #[test]
    fn history_ids_come_back_as_clawsocket_message_ids() {
        let user = json!({"role": "user", "content": "hi",
            "idempotencyKey": "cs:17-3:m:1:user", "__openclaw": {"id": "u-9"}});
        assert_eq!(
            history_message(&user, "f".into()).unwrap().message_id,
            "m:1"
        );
        let reply = json!({"role": "assistant", "content": [{"type": "text", "text": "yo"}],
            "__openclaw": {"runId": "cs:17-3:m:1", "id": "a-9"}});
        assert_eq!(
            history_message(&reply, "f".into()).unwrap().message_id,
            "m:1"
        );
        let foreign =
            json!({"role": "user", "content": "from elsewhere", "__openclaw": {"id": "u-1"}});
        assert_eq!(
            history_message(&foreign, "f".into()).unwrap().message_id,
            "u-1"
        );
        let tool = json!({"role": "toolResult", "content": "x"});
        assert!(history_message(&tool, "f".into()).is_none());
    }

    #[test]
    fn events_parse_in_both_protocols() {
        let v4 = json!({"runId": "r", "state": "delta", "deltaText": "lo",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]}});
        assert_eq!(
            parse_event(&v4),
            Some((
                Some("r".into()),
                ChatUpdate::Delta {
                    delta: Some("lo".into()),
                    replace: false,
                    text: Some("Hello".into())
                }
            ))
        );
        let v3 = json!({"runId": "r", "state": "final", "message": {"role": "assistant", "content": "Hi"}});
        assert_eq!(
            parse_event(&v3),
            Some((Some("r".into()), ChatUpdate::Final(Some("Hi".into()))))
        );
    }

    #[test]
    fn error_kinds_map_to_stable_codes() {
        assert_eq!(failure("timeout").code(), ErrorCode::AgentTimeout);
        assert_eq!(failure("rate_limit").code(), ErrorCode::RateLimited);
        for kind in ["refusal", "context_length", "unknown", "something_new"] {
            assert_eq!(failure(kind).code(), ErrorCode::AgentError);
        }
        assert!(error_text("refusal", "no").contains("errorKind refusal"));
    }
}
