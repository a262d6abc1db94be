//! Any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, llama.cpp, vLLM), streamed
//! over Server-Sent Events. The session's earlier messages come from the store.

use futures_util::StreamExt;
use serde_json::{json, Value};

use clawsocket_core::AgentFailure;

use super::{Agent, AgentError, AgentFuture, AgentOutput, AgentRun};
use crate::settings::OpenAiSettings;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct OpenAiAgent {
    settings: OpenAiSettings,
    http: reqwest::Client,
}

impl OpenAiAgent {
    /// A backend for this endpoint.
    pub fn new(settings: OpenAiSettings) -> Result<OpenAiAgent, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("agent.openai: {e}"))?;
        Ok(OpenAiAgent { settings, http })
    }
}

/// The request body: system prompt, earlier messages, this turn.
fn messages(settings: &OpenAiSettings, run: &AgentRun) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(system) = &settings.system_prompt {
        out.push(json!({"role": "system", "content": system}));
    }
    for m in &run.history {
        let role = if m.role == "assistant" {
            "assistant"
        } else {
            "user"
        };
        let content = match (&m.sender_name, &m.sender_id, role) {
            (Some(name), _, "user") | (None, Some(name), "user") => {
                format!("{name}: {}", m.content)
            }
            _ => m.content.clone(),
        };
        out.push(json!({"role": role, "content": content}));
    }
    out.push(json!({"role": "user", "content": run.turn.body()}));
    out
}

impl Agent for OpenAiAgent {
    fn run(&self, run: AgentRun, output: AgentOutput) -> AgentFuture {
        let settings = self.settings.clone();
        let http = self.http.clone();
        Box::pin(async move {
            let body = json!({
                "model": settings.model,
                "stream": true,
                "messages": messages(&settings, &run),
                "user": run.turn.sender_id(),
            });
            let mut request = http
                .post(format!("{}/chat/completions", settings.base_url))
                .header("content-type", "application/json")
                .header("accept", "text/event-stream")
                .body(body.to_string());
            if let Some(var) = &settings.api_key_env {
                if let Ok(key) = std::env::var(var) {
                    request = request.bearer_auth(key);
                }
            }
            let response = request.send().await.map_err(|e| {
                tracing::warn!(error = %e, "openai endpoint unreachable");
                "Model endpoint unreachable".to_owned()
            })?;
            let status = response.status();
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                let detail = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| {
                        v.pointer("/error/message")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_default();
                let message = format!(
                    "Model endpoint answered {}{}{}",
                    status.as_u16(),
                    if detail.is_empty() { "" } else { ": " },
                    detail
                );
                // 429 and 408/504 tell the client something it can act on (wait, retry).
                let failure = match status.as_u16() {
                    429 => AgentFailure::RateLimited,
                    408 | 504 => AgentFailure::TimedOut,
                    _ => AgentFailure::Failed,
                };
                return Err(AgentError::Failed { failure, message });
            }
            let mut stream = response.bytes_stream();
            let mut pending: Vec<u8> = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| format!("Model stream broke: {e}"))?;
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&line);
                    match read_event_line(line.trim_end()) {
                        SseLine::Delta(text) => output.delta(&text),
                        SseLine::Done => return Ok(None),
                        SseLine::Error(e) => return Err(e.into()),
                        SseLine::Other => {}
                    }
                }
            }
            Ok(None)
        })
    }

    fn history_messages(&self) -> usize {
        self.settings.history_messages
    }
}

enum SseLine {
    Delta(String),
    Done,
    Error(String),
    Other,
}

/// One line of the event stream: `data: {...}` chunks carry `choices[0].delta.content`.
fn read_event_line(line: &str) -> SseLine {
    let Some(data) = line.strip_prefix("data:") else {
        return SseLine::Other;
    };
    let data = data.trim_start();
    if data == "[DONE]" {
        return SseLine::Done;
    }
    let Ok(value) = serde_json::from_str::<Value>(data) else {
        return SseLine::Other;
    };
    if let Some(message) = value.pointer("/error/message").and_then(Value::as_str) {
        return SseLine::Error(format!("Model error: {message}"));
    }
    match value
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
    {
        Some(text) if !text.is_empty() => SseLine::Delta(text.to_owned()),
        _ => SseLine::Other,
    }
}
