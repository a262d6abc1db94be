//! The seed's external auth against a real HTTP verify service started by the test: accept,
//! reject, timeout, garbage, service down, `required: false`, and the environment overrides.

mod common;

use std::time::Duration;

use common::{dead_address, http_response, HttpPeer, Server};
use serde_json::{json, Value};

/// Tokens decide the answer: good-*, bad, slow, garbage.
async fn auth_service() -> HttpPeer {
    HttpPeer::start(|body| async move {
        let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        match request["token"].as_str().unwrap_or("") {
            t if t.starts_with("good-") => {
                let user = &t["good-".len()..];
                let data = json!({"success": true, "data": {"userId": format!("user_{user}"), "username": user, "plan": "pro"}});
                http_response("200 OK", "application/json", &data.to_string())
            }
            "slow" => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                http_response("200 OK", "application/json", r#"{"success":true,"data":{"userId":"late"}}"#)
            }
            "garbage" => http_response("200 OK", "text/html", "<html>oops</html>"),
            _ => http_response("401 Unauthorized", "application/json", r#"{"success":false,"error":"invalid_token"}"#),
        }
    })
    .await
}

fn config(endpoint: &str, required: bool) -> Value {
    json!({"channels": {"websocket": {
        "auth": {"enabled": true, "endpoint": endpoint, "timeout": 500, "required": required},
        "agent": {"builtin": {"delayMs": 1}}
    }}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_auth_paths() {
    let service = auth_service().await;
    let endpoint = format!("http://{}/api/auth/verify", service.addr);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(&endpoint, true), dir.path());

    // Accept: the service's userId is the identity; a frame's senderId cannot override it.
    let mut ws = server.connect("token=good-alice&senderId=mallory").await;
    let ready = ws.next_json().await.unwrap();
    assert_eq!(ready["senderId"], "user_alice", "{ready}");
    assert_eq!(ready["authenticated"], true);
    let frames = ws.chat("Hello!", json!({"senderId": "user_bob"})).await;
    let last = frames.last().unwrap();
    assert!(
        last["type"] == "chat.error" && last["code"] == "identity_mismatch"
            || last["content"]
                .as_str()
                .unwrap()
                .contains("direct:user_alice"),
        "{frames:?}"
    );
    let frames = ws.chat("Hello!", json!({})).await;
    assert!(
        common::last_text(&frames).starts_with("Hello alice!"),
        "{frames:?}"
    );
    // Every URL parameter is posted, with tokenType defaulting to local.
    let sent = service
        .bodies()
        .into_iter()
        .find(|b| b["token"] == "good-alice")
        .unwrap();
    assert_eq!(sent["tokenType"], "local");
    assert_eq!(sent["senderId"], "mallory");

    for (query, code) in [
        ("token=bad", "auth_failed"),
        ("token=slow", "auth_timeout"),
        ("token=garbage", "auth_failed"),
        ("senderId=x", "auth_required"),
    ] {
        let mut ws = server.connect(query).await;
        let frames = ws.until_closed().await;
        let error = frames
            .iter()
            .find(|f| f["type"] == "chat.error")
            .unwrap_or_else(|| panic!("{query}: {frames:?}"));
        assert_eq!(error["code"], code, "{query}: {frames:?}");
        assert_eq!(ws.close_code, Some(4401), "{query}");
    }
    assert!(
        !server.logs().contains("good-alice"),
        "tokens never reach the log"
    );
    let count = server
        .metric("clawsocket_auth_seconds_count ")
        .await
        .unwrap();
    assert!(count >= 3.0, "auth latency recorded: {count}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_down_and_not_required() {
    let dead = format!("http://{}/verify", dead_address());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(&dead, true), dir.path());
    let mut ws = server.connect("token=good-x").await;
    let frames = ws.until_closed().await;
    assert_eq!(frames[0]["code"], "auth_unavailable", "{frames:?}");
    assert_eq!(ws.close_code, Some(4401));
    drop(server);

    // required: false lets failures in anonymously.
    let service = auth_service().await;
    let endpoint = format!("http://{}/verify", service.addr);
    let server = Server::start(&config(&endpoint, false), dir.path());
    for query in [
        "token=bad&senderId=anon1",
        "senderId=anon2",
        "token=garbage&senderId=anon3",
    ] {
        let mut ws = server.connect(query).await;
        let ready = ws.until(|f| f["type"] == "chat.ready").await.pop().unwrap();
        assert_eq!(ready["authenticated"], false, "{query}");
        let frames = ws.chat("Hello!", json!({})).await;
        assert_eq!(frames.last().unwrap()["type"], "chat.response", "{query}");
    }
    let mut ws = server.ready("token=good-carol").await;
    assert_eq!(
        ws.chat("Hello!", json!({})).await.last().unwrap()["type"],
        "chat.response"
    );
    drop(server);

    let server = Server::start(&config(&dead, true), dir.path());
    let mut ws = server.connect("token=x").await;
    ws.until_closed().await;
    assert_eq!(ws.close_code, Some(4401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_overrides_the_file() {
    let service = auth_service().await;
    let endpoint = format!("http://{}/verify", service.addr);
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("http://{}/verify", dead_address());
    // The file points at a dead endpoint; WS_AUTH_ENDPOINT wins.
    let server = Server::start_with(
        Some(&config(&dead, true)),
        dir.path(),
        &[("WS_AUTH_ENDPOINT", &endpoint)],
    );
    let ready = server.ready("token=good-dave").await;
    drop(ready);
    drop(server);
    // WS_AUTH_ENABLED=false opens a server whose file enables auth.
    let server = Server::start_with(
        Some(&config(&dead, true)),
        dir.path(),
        &[("WS_AUTH_ENABLED", "false")],
    );
    let mut ws = server.ready("senderId=open").await;
    assert_eq!(
        ws.chat("Hello!", json!({})).await.last().unwrap()["type"],
        "chat.response"
    );
}
