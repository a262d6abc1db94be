//! Shared by the vector test and the `draft_vector` example: runs a vector file's inputs
//! through the core and collects what each step produced.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clawsocket_core::{Config, ConnectionId, HistoryMessage, HistoryPage, Payload, Server, TurnId};
use serde_json::value::RawValue;
use serde_json::Value;

pub type Object = BTreeMap<String, Box<RawValue>>;

/// Compact form of a JSON text exactly as written (key order and escapes kept).
pub fn minify(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in raw.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

pub fn value(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).expect("raw value is JSON")
}

fn u64_of(obj: &Value, key: &str) -> u64 {
    obj.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("missing number {key} in {obj}"))
}

fn str_of<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string {key} in {obj}"))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn transmit_text(connection: ConnectionId, payload: &Payload) -> String {
    match payload {
        Payload::Text(text) => format!("{{\"to\":{},\"frame\":{}}}", connection.0, text),
        Payload::Close { code, reason } => format!(
            "{{\"to\":{},\"close\":{{\"code\":{},\"reason\":{}}}}}",
            connection.0,
            code,
            serde_json::to_string(reason).unwrap()
        ),
    }
}

fn history_page(v: &Value) -> HistoryPage {
    let messages = v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| HistoryMessage {
            message_id: str_of(m, "messageId").into(),
            role: str_of(m, "role").into(),
            sender_id: m.get("senderId").and_then(Value::as_str).map(Into::into),
            sender_name: m.get("senderName").and_then(Value::as_str).map(Into::into),
            content: str_of(m, "content").into(),
            at: u64_of(m, "at"),
        })
        .collect();
    HistoryPage {
        messages,
        next_cursor: v.get("nextCursor").and_then(Value::as_str).map(Into::into),
    }
}

/// What one step produced.
pub struct StepOutput {
    pub index: usize,
    pub at: u64,
    pub input: String,
    pub frames: Vec<String>,
    pub events: Vec<String>,
    pub timeout: Option<u64>,
    pub result: Option<String>,
    /// The step as written in the file.
    pub step: Object,
}

/// Runs every input of the file and returns each step's outputs.
pub fn execute(path: &Path) -> Vec<StepOutput> {
    let text = std::fs::read_to_string(path).expect("read vector");
    let file: Object =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let config = match file.get("config") {
        Some(raw) => Config::from_json(raw.get())
            .unwrap_or_else(|e| panic!("{}: config: {e}", path.display())),
        None => Config::default(),
    };
    let steps: Vec<Object> = serde_json::from_str(file["steps"].get()).expect("steps");
    let mut server = Server::new(config);
    let mut outputs = Vec::new();
    for (index, step) in steps.into_iter().enumerate() {
        let now = step
            .get("at")
            .map_or(0, |raw| value(raw).as_u64().expect("at"));
        let mut result: Option<String> = None;
        let input = step
            .keys()
            .find(|k| {
                !matches!(
                    k.as_str(),
                    "at" | "frames" | "events" | "nextTimeout" | "result" | "note"
                )
            })
            .cloned()
            .unwrap_or_else(|| panic!("{}: step {index} has no input", path.display()));
        let arg = value(&step[&input]);
        let conn = |v: &Value| ConnectionId(u64_of(v, "conn"));
        let turn = |v: &Value| TurnId(u64_of(v, "turn"));
        let outcome = match input.as_str() {
            "connect" => {
                let id = server
                    .handle_connect(now, arg.as_str().expect("connect takes the query string"));
                result = Some(id.0.to_string());
                Ok(())
            }
            "text" => server.handle_text(now, conn(&arg), str_of(&arg, "data").as_bytes()),
            "send" => {
                let raw: Object = serde_json::from_str(step[&input].get()).unwrap();
                server.handle_text(now, conn(&arg), raw["frame"].get().as_bytes())
            }
            "textHex" => server.handle_text(now, conn(&arg), &hex(str_of(&arg, "hex"))),
            "binary" => server.handle_binary(now, conn(&arg), &hex(str_of(&arg, "hex"))),
            "authResponse" => {
                server.handle_auth_response(
                    now,
                    conn(&arg),
                    u64_of(&arg, "status") as u16,
                    str_of(&arg, "body").as_bytes(),
                );
                Ok(())
            }
            "authUnavailable" => {
                server.handle_auth_unavailable(now, conn(&arg));
                Ok(())
            }
            "agentDelta" => server.handle_agent_delta(now, turn(&arg), str_of(&arg, "text")),
            "agentText" => server.handle_agent_text(now, turn(&arg), str_of(&arg, "text")),
            "agentFinal" => {
                server.handle_agent_final(now, turn(&arg), arg.get("text").and_then(Value::as_str))
            }
            "agentError" => server.handle_agent_error(now, turn(&arg), str_of(&arg, "error")),
            "disconnect" => server.handle_disconnect(now, conn(&arg)),
            "timeout" => {
                server.handle_timeout(now);
                Ok(())
            }
            "shutdown" => {
                server.handle_shutdown(now);
                Ok(())
            }
            "approvePairing" => match server.approve_pairing(now, str_of(&arg, "code")) {
                Ok(sender) => {
                    result = Some(sender);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            "allowSender" => {
                server.allow_sender(arg.as_str().expect("sender id"));
                Ok(())
            }
            "restoreDynamicAgent" => {
                server.restore_dynamic_agent(arg.as_str().expect("agent id"));
                Ok(())
            }
            "history" => {
                let request = u64_of(&arg, "request");
                match arg.get("error").and_then(Value::as_str) {
                    Some(reason) => server.handle_history(now, request, Err(reason)),
                    None => server.handle_history(now, request, Ok(history_page(&arg["page"]))),
                }
            }
            other => panic!("{}: step {index}: unknown input {other:?}", path.display()),
        };
        if let Err(e) = outcome {
            result = Some(format!("error:{}", e.as_str()));
        }
        let mut actual_frames = Vec::new();
        while let Some(t) = server.poll_transmit() {
            actual_frames.push(transmit_text(t.connection, &t.payload));
        }
        let mut actual_events = Vec::new();
        while let Some(e) = server.poll_event() {
            actual_events.push(e.to_json());
        }
        outputs.push(StepOutput {
            index,
            at: now,
            input,
            frames: actual_frames,
            events: actual_events,
            timeout: server.poll_timeout(),
            result,
            step,
        });
    }
    outputs
}

pub fn vector_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/vectors exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}
