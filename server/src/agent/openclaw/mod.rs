//! The `openclaw` backend: serves an OpenClaw gateway's agent to clawsocket clients. Each
//! turn becomes a `chat.send` on the session's gateway key and its `chat` events become the
//! turn's stream, final text or error; a cancelled turn sends `chat.abort`.

mod chat;
mod device;
mod gateway;
mod handshake;
mod secret;

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clawsocket_core::{HistoryPage, Media, MediaKind};
use serde_json::{json, Value};

use super::{Agent, AgentError, AgentFuture, AgentOutput, AgentRun, HistoryFuture};
use crate::settings::OpenClawSettings;
use chat::ChatUpdate;
use gateway::{Connection, Gateway};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct OpenClawAgent {
    gateway: Gateway,
    agent_id: String,
}

impl OpenClawAgent {
    /// Loads the device identity and starts connecting (when a runtime is running).
    pub fn new(settings: OpenClawSettings) -> Result<OpenClawAgent, String> {
        let agent_id = settings.agent_id.clone();
        let gateway = Gateway::new(settings)?;
        gateway.start();
        Ok(OpenClawAgent { gateway, agent_id })
    }
}

impl Agent for OpenClawAgent {
    fn run(&self, run: AgentRun, output: AgentOutput) -> AgentFuture {
        let gateway = self.gateway.clone();
        let session_key = chat::gateway_session_key(run.turn.session_key(), &self.agent_id);
        Box::pin(async move {
            let connection = gateway.connection().await?;
            run_turn(&connection, session_key, run, output).await
        })
    }

    fn history_messages(&self) -> usize {
        // The gateway keeps the session's transcript itself.
        0
    }

    fn history(
        &self,
        session_key: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Option<HistoryFuture> {
        let gateway = self.gateway.clone();
        let session_key = chat::gateway_session_key(session_key, &self.agent_id);
        let offset = cursor.and_then(|c| c.parse::<u64>().ok());
        Some(Box::pin(async move {
            let connection = gateway.connection().await?;
            let mut params = json!({"sessionKey": session_key, "limit": limit.clamp(1, 1000)});
            if let Some(offset) = offset {
                params["offset"] = json!(offset);
            }
            let page = connection.request("chat.history", params).await?;
            let base = offset.unwrap_or(0);
            let raw = page["messages"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let messages = raw
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    chat::history_message(m, format!("openclaw-{}", base + i as u64))
                })
                .collect();
            // Gateways that give no `nextOffset` page by counting what was served.
            let next_cursor = (page["hasMore"] == true).then(|| {
                page["nextOffset"]
                    .as_u64()
                    .unwrap_or(base + raw.len() as u64)
                    .to_string()
            });
            Ok(HistoryPage {
                messages,
                next_cursor,
            })
        }))
    }
}

/// Sends the turn and follows its run to the end.
async fn run_turn(
    connection: &Arc<Connection>,
    session_key: String,
    run: AgentRun,
    output: AgentOutput,
) -> Result<Option<String>, AgentError> {
    let turn = run.turn;
    let attachments = attachments(turn.media(), connection.max_payload)?;
    let mut message = turn.body().to_owned();
    for url in turn.media().iter().filter(|m| m.kind == MediaKind::Url) {
        // The bridge fetches nothing a remote client names; the agent sees the link.
        message.push_str(&format!("\n[Attachment: {}]", url.location));
    }
    let key = chat::idempotency_key(&turn);
    let mut params = json!({
        "sessionKey": session_key,
        "message": message,
        "idempotencyKey": key,
        // clawsocket runs one turn per session at a time, so a run the gateway has active on
        // this key is not ours (e.g. one it resumed after a restart): replace it. Steering
        // into it would end our run with a bare final and deliver the reply under another id.
        "queueMode": "interrupt",
    });
    if !attachments.is_empty() {
        params["attachments"] = Value::Array(attachments);
    }
    if let Some(reply_to) = turn.reply_to_id() {
        params["replyToId"] = json!(reply_to);
    }
    // Watch before sending so no event of the run can slip past.
    let mut events = connection.watch_run(&key, &session_key);
    let mut abort = AbortOnDrop {
        connection: connection.clone(),
        session_key: session_key.clone(),
        run_id: None,
        armed: true,
    };
    let started = connection
        .request("chat.send", params)
        .await
        .inspect_err(|_| abort.armed = false)?;
    let run_id = started["runId"].as_str().map(str::to_owned);
    if started["status"] == "ok" {
        abort.armed = false;
        return Err(AgentError::from(format!(
            "the OpenClaw gateway already answered message {}; see chat.history",
            turn.message_id()
        )));
    }
    abort.run_id = run_id.clone();
    let mut streamed = String::new();
    loop {
        let Some(payload) = events.next().await else {
            abort.armed = false;
            return Err(AgentError::from(
                "the connection to the OpenClaw gateway dropped during the reply; send the message again",
            ));
        };
        let Some((event_run, update)) = chat::parse_event(&payload) else {
            continue;
        };
        if run_id.is_some() && event_run.is_some() && event_run != run_id {
            continue; // an earlier run of the same session
        }
        match update {
            ChatUpdate::Delta {
                delta: Some(delta),
                replace: false,
                ..
            } if connection.protocol >= 4 => {
                output.delta(&delta);
                streamed.push_str(&delta);
            }
            ChatUpdate::Delta {
                delta: Some(whole),
                replace: true,
                ..
            } => {
                output.text(&whole, &streamed);
                streamed = whole;
            }
            ChatUpdate::Delta {
                text: Some(text), ..
            } => {
                output.text(&text, &streamed);
                streamed = text;
            }
            ChatUpdate::Delta { .. } => {}
            ChatUpdate::Final(None) if streamed.is_empty() => {
                abort.armed = false;
                return Err(AgentError::from(
                    "the OpenClaw gateway ended the run without a reply (another run may hold the session)",
                ));
            }
            ChatUpdate::Final(text) => {
                abort.armed = false;
                return Ok(text);
            }
            ChatUpdate::Aborted(_) => {
                abort.armed = false;
                // Stopped on the gateway (an operator, another client): a cancelled reply.
                return Err(AgentError::Cancelled);
            }
            ChatUpdate::Error { kind, message } => {
                abort.armed = false;
                return Err(AgentError::Failed {
                    failure: chat::failure(&kind),
                    message: chat::error_text(&kind, &message),
                });
            }
        }
    }
}

/// Aborts the gateway run when the turn is dropped before its end (a `chat.cancel`).
struct AbortOnDrop {
    connection: Arc<Connection>,
    session_key: String,
    run_id: Option<String>,
    armed: bool,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut params = json!({"sessionKey": self.session_key});
        if let Some(run) = &self.run_id {
            params["runId"] = json!(run);
        }
        tracing::info!(session = %self.session_key, "aborting the OpenClaw run");
        self.connection.notify("chat.abort", params);
    }
}

/// Local files (already resolved under the media root by the hub) as base64 attachments.
fn attachments(media: &[Media], max_payload: Option<u64>) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut total = 0u64;
    for item in media.iter().filter(|m| m.kind == MediaKind::Path) {
        let path = std::path::Path::new(&item.location);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = std::fs::read(path).map_err(|_| format!("Media {name:?} is not available"))?;
        total += bytes.len() as u64 * 4 / 3 + 64;
        if max_payload.is_some_and(|max| total > max) {
            return Err(format!(
                "Media {name:?} is larger than the OpenClaw gateway accepts"
            ));
        }
        let mime = item
            .mime_type
            .clone()
            .unwrap_or_else(|| mime_from_name(&name).to_owned());
        let kind = if mime.starts_with("image/") {
            "image"
        } else {
            "file"
        };
        out.push(json!({
            "type": kind,
            "mimeType": mime,
            "fileName": name,
            "content": STANDARD.encode(&bytes),
        }));
    }
    Ok(out)
}

fn mime_from_name(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("pdf") => "application/pdf",
        Some("txt" | "md") => "text/plain",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}
