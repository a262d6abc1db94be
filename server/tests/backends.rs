//! The `openai` backend against a local Server-Sent Events endpoint, and the `exec` backend
//! with a shell script written by the test.

mod common;

use common::{http_response, last_text, write_script, HttpPeer, Server};
use serde_json::{json, Value};

fn sse(pieces: &[&str]) -> Vec<u8> {
    let mut body =
        String::from("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n");
    for p in pieces {
        let chunk = json!({"choices": [{"index": 0, "delta": {"content": p}}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    http_response("200 OK", "text/event-stream", &body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_backend_streams_and_sends_history() {
    let model = HttpPeer::start(|body| async move {
        let request: Value = serde_json::from_str(&body).unwrap();
        let last = request["messages"].as_array().unwrap().last().unwrap()["content"]
            .as_str()
            .unwrap()
            .to_owned();
        if last.contains("explode") {
            return http_response(
                "500 Internal Server Error",
                "application/json",
                r#"{"error":{"message":"model crashed"}}"#,
            );
        }
        if last.contains("too fast") {
            return http_response(
                "429 Too Many Requests",
                "application/json",
                r#"{"error":{"message":"slow down"}}"#,
            );
        }
        let turns = request["messages"].as_array().unwrap().len();
        let count = format!(" ({turns} messages)");
        sse(&["Hello", " from", " the", " model", &count])
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::open_config(json!({"agent": {"backend": "openai", "openai": {
        "baseUrl": format!("http://{}/v1", model.addr),
        "model": "test-model",
        "apiKeyEnv": "TEST_OPENAI_KEY",
        "systemPrompt": "You are terse."
    }}}));
    let server = Server::start_with(
        Some(&config),
        dir.path(),
        &[("TEST_OPENAI_KEY", "sk-test-123")],
    );
    let mut ws = server.ready("senderId=u1&senderName=Ann").await;

    let frames = ws.chat("My name is Ann", json!({})).await;
    let streams = frames.iter().filter(|f| f["type"] == "chat.stream").count();
    assert!(streams >= 3, "{frames:?}");
    assert_eq!(last_text(&frames), "Hello from the model (2 messages)");

    let frames = ws.chat("What is my name?", json!({})).await;
    assert_eq!(last_text(&frames), "Hello from the model (4 messages)");
    let second = &model.bodies()[1];
    assert_eq!(second["model"], "test-model");
    assert_eq!(second["stream"], true);
    let messages = second["messages"].as_array().unwrap();
    assert_eq!(
        messages[0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert_eq!(
        messages[1],
        json!({"role": "user", "content": "Ann: My name is Ann"})
    );
    assert_eq!(
        messages[2],
        json!({"role": "assistant", "content": "Hello from the model (2 messages)"})
    );
    assert_eq!(
        messages[3],
        json!({"role": "user", "content": "Ann: What is my name?"})
    );
    let head = model.heads.lock().unwrap()[0].clone();
    assert!(head.starts_with("post /v1/chat/completions"), "{head}");
    assert!(head.contains("authorization: bearer sk-test-123"), "{head}");
    assert!(!server.logs().contains("sk-test-123"));

    let frames = ws.chat("please explode", json!({})).await;
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "chat.error");
    assert_eq!(last["code"], "agent_error");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("500: model crashed"),
        "{last}"
    );

    // The provider's rate limit reaches the client as such: it may retry later.
    let frames = ws.chat("too fast", json!({})).await;
    let last = frames.last().unwrap();
    assert_eq!(last["code"], "rate_limited", "{frames:?}");
    assert_eq!(last["retryable"], true, "{frames:?}");
    assert!(
        last["error"].as_str().unwrap().contains("429: slow down"),
        "{last}"
    );
}

const SCRIPT: &str = r#"
input=$(cat)
echo "cwd=$(pwd)"
echo "input=$input"
case "$input" in *'"content":"fail'*) echo "boom: bad input" >&2; exit 3;; esac
case "$input" in *'"content":"hang'*) sleep 30;; esac
echo "done"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_backend_runs_one_process_per_turn() {
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "agent.sh", SCRIPT);
    let config = common::open_config(json!({"agent": {
        "backend": "exec",
        "exec": {"command": ["sh", script.display().to_string()], "timeoutMs": 1500}
    }}));
    let server = Server::start(&config, dir.path());
    let mut ws = server.ready("senderId=u1").await;

    let frames = ws.chat("Hello!", json!({"customData": {"k": "v"}})).await;
    let text = last_text(&frames);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let workspace = dir.path().join("workspace").canonicalize().unwrap();
    assert_eq!(lines[0], format!("cwd={}", workspace.display()));
    let turn: Value = serde_json::from_str(lines[1].strip_prefix("input=").unwrap()).unwrap();
    assert_eq!(turn["sessionKey"], "agent:main:websocket:direct:u1");
    assert_eq!(turn["body"], "u1: Hello!");
    assert_eq!(turn["customData"], json!({"k": "v"}));
    assert_eq!(lines[2], "done");
    let streams: Vec<_> = frames
        .iter()
        .filter(|f| f["type"] == "chat.stream")
        .collect();
    assert_eq!(streams.len(), 3, "one stream frame per line: {frames:?}");
    assert_eq!(streams[0]["content"], lines[0]);

    let frames = ws.chat("fail please", json!({})).await;
    let last = frames.last().unwrap();
    assert_eq!(last["code"], "agent_error", "{frames:?}");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("exit status 3): boom: bad input"),
        "{last}"
    );

    // A process past its time limit is the agent timing out: the client may retry.
    let frames = ws.chat("hang forever", json!({})).await;
    let last = frames.last().unwrap();
    assert_eq!(last["code"], "agent_timeout", "{frames:?}");
    assert_eq!(last["retryable"], true, "{frames:?}");
    assert!(
        last["error"].as_str().unwrap().contains("timed out"),
        "{last}"
    );

    // Still serving after both failures.
    let frames = ws.chat("again", json!({})).await;
    assert!(last_text(&frames).ends_with("done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stub_backend_streams_a_fixed_reply() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::open_config(
        json!({"agent": {"backend": "stub", "stub": {"chunks": 5, "text": "ab "}}}),
    );
    let server = Server::start(&config, dir.path());
    let mut ws = server.ready("senderId=s").await;
    let frames = ws.chat("anything", json!({})).await;
    assert_eq!(
        frames.iter().filter(|f| f["type"] == "chat.stream").count(),
        5,
        "{frames:?}"
    );
    assert_eq!(last_text(&frames), "ab ab ab ab ab ");
}
