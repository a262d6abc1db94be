//! Every Quick Start case of the seed README against the real binary with the builtin agent,
//! plus the HTTP endpoints and the secure-by-default token.

mod common;

use common::{last_text, open_config, Server};
use serde_json::json;

fn assert_streamed_reply(frames: &[serde_json::Value]) {
    assert_eq!(frames[0]["type"], "chat.typing", "{frames:?}");
    let streams: Vec<_> = frames
        .iter()
        .filter(|f| f["type"] == "chat.stream")
        .collect();
    assert!(
        streams.len() >= 2,
        "several stream frames expected: {frames:?}"
    );
    for s in &streams {
        assert_eq!(s["done"], false);
    }
    // Cumulative (seed) streaming: each frame extends the previous one.
    for pair in streams.windows(2) {
        let (a, b) = (
            pair[0]["content"].as_str().unwrap(),
            pair[1]["content"].as_str().unwrap(),
        );
        assert!(b.starts_with(a) && b.len() > a.len(), "{a:?} then {b:?}");
    }
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "chat.response");
    assert_eq!(last["done"], true);
    assert_eq!(last["content"], streams.last().unwrap()["content"]);
    assert_eq!(last["messageId"], frames[0]["messageId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_quick_start_cases() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&open_config(json!({})), dir.path());
    let mut ws = server.ready("senderId=user1&senderName=John").await;

    // Basic message.
    let frames = ws.chat("Hello!", json!({})).await;
    assert_streamed_reply(&frames);
    assert!(
        last_text(&frames).starts_with("Hello John! You said: \"Hello!\"."),
        "{frames:?}"
    );

    // Message with custom sender: its own session, the frame's name is used.
    let frames = ws
        .chat(
            "Hi there!",
            json!({"senderId": "user_123", "senderName": "Alice"}),
        )
        .await;
    assert_streamed_reply(&frames);
    let text = last_text(&frames);
    assert!(
        text.starts_with("Hello Alice!") && text.contains("direct:user_123"),
        "{text}"
    );
    assert!(
        !text.contains("You said earlier"),
        "a new session has no history: {text}"
    );

    // Multi-turn conversation: the agent remembers.
    let frames = ws.chat("My name is John", json!({})).await;
    assert!(last_text(&frames).contains("Nice to meet you, John"));
    let frames = ws.chat("What is my name?", json!({})).await;
    assert_streamed_reply(&frames);
    assert!(
        last_text(&frames).starts_with("Your name is John."),
        "{frames:?}"
    );

    // Reply to a message.
    let frames = ws
        .chat(
            "I agree",
            json!({"replyToBody": "Let's use Python for this project"}),
        )
        .await;
    assert!(
        last_text(&frames).contains("You are replying to: \"Let's use Python for this project\"")
    );

    // Group chat message: the group's own session.
    let frames = ws
        .chat(
            "Hello everyone!",
            json!({"chatType": "group", "groupId": "dev-team", "groupSubject": "Dev Team"}),
        )
        .await;
    let text = last_text(&frames);
    assert!(
        text.contains("(Group chat: Dev Team.)") && text.contains("group:dev-team"),
        "{text}"
    );

    // Message with custom data.
    let frames = ws
        .chat(
            "Process this",
            json!({"customData": {"priority": "high", "source": "api"}}),
        )
        .await;
    assert!(
        last_text(&frames).contains(r#"Custom data received: {"priority":"high","source":"api"}"#)
    );

    // Long message.
    let long = "Please write a Python function that calculates the factorial of a number recursively and iteratively, then compare their performance.";
    let frames = ws.chat(long, json!({})).await;
    assert_streamed_reply(&frames);
    assert!(last_text(&frames).contains(long));
    // The history of user1 is there: the previous message is quoted.
    assert!(
        last_text(&frames).contains("You said earlier: \"Process this\""),
        "{}",
        last_text(&frames)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_users_have_separate_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&open_config(json!({})), dir.path());
    let mut alice = server.ready("senderId=alice").await;
    let mut bob = server.ready("senderId=bob").await;
    alice.chat("My name is Alice", json!({})).await;
    bob.chat("My name is Bob", json!({})).await;
    let a = last_text(&alice.chat("What is my name?", json!({})).await);
    let b = last_text(&bob.chat("What is my name?", json!({})).await);
    assert!(a.starts_with("Your name is Alice."), "{a}");
    assert!(b.starts_with("Your name is Bob."), "{b}");

    // The seed's session example: frames carrying their own senderId on one socket.
    let mut ws = server.ready("").await;
    ws.chat("My name is Alice", json!({"senderId": "user_A"}))
        .await;
    ws.chat("My name is Bob", json!({"senderId": "user_B"}))
        .await;
    let a = last_text(
        &ws.chat("What is my name?", json!({"senderId": "user_A"}))
            .await,
    );
    assert!(a.starts_with("Your name is Alice."), "{a}");

    // One-liner: send and disconnect; the server keeps serving others.
    let mut quick = server.ready("senderId=test").await;
    quick
        .send(json!({"type": "chat.send", "content": "Hello!"}))
        .await;
    drop(quick);
    let frames = alice.chat("still there?", json!({})).await;
    assert_eq!(frames.last().unwrap()["type"], "chat.response");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_on_the_same_port() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&open_config(json!({})), dir.path());
    let (status, body) = server.get("/healthz").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""));
    let (status, body) = server.get("/").await;
    assert_eq!(status, 200);
    assert!(body.contains("<html"));
    assert_eq!(server.get("/nope").await.0, 404);
    // The WebSocket path without an upgrade is refused plainly.
    assert_eq!(server.get("/ws").await.0, 426);

    let mut ws = server.ready("senderId=m").await;
    ws.chat("Hello!", json!({})).await;
    ws.send_raw("not json").await;
    assert_eq!(ws.next_json().await.unwrap()["code"], "invalid_json");
    let (_, metrics) = server.get("/metrics").await;
    for line in [
        "clawsocket_connections 1",
        "clawsocket_connections_total 1",
        "clawsocket_sessions 1",
        "clawsocket_turns_finished_total{outcome=\"completed\"} 1",
        "clawsocket_errors_total{code=\"invalid_json\"} 1",
        "# TYPE clawsocket_auth_seconds histogram",
    ] {
        assert!(
            metrics.lines().any(|l| l == line || l.starts_with(line)),
            "{line} missing in\n{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_by_default_with_a_generated_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(None, dir.path(), &[]);
    let banner = server.banner.join("\n");
    let url = banner
        .lines()
        .find_map(|l| l.strip_prefix("clawsocket: connect with: wscat -c '"))
        .map(|l| l.trim_end_matches('\''))
        .expect("connect line");
    let token = url.split("token=").nth(1).unwrap().to_owned();
    assert!(token.len() >= 32, "{token}");
    // The browser link carries the token too, so the page logs straight in.
    let page = banner
        .lines()
        .find_map(|l| l.strip_prefix("clawsocket: browser:      "))
        .expect("browser line");
    assert!(page.ends_with(&format!("/?token={token}")), "{page}");
    assert!(
        !server.logs().contains(&token),
        "the token must not reach the log"
    );

    // Without the token: refused with 4401.
    let mut ws = server.connect("senderId=me").await;
    let frames = ws.until_closed().await;
    assert_eq!(frames[0]["code"], "auth_required", "{frames:?}");
    assert_eq!(ws.close_code, Some(4401));
    // A wrong token: refused.
    let mut ws = server.connect("senderId=me&token=wrong").await;
    ws.until_closed().await;
    assert_eq!(ws.close_code, Some(4401));
    // The printed URL works, and the identity is the senderId.
    let mut ws = common::Ws::connect(&format!(
        "ws://{}/ws?senderId=me&token={token}",
        server.addr
    ))
    .await;
    let ready = ws.next_json().await.unwrap();
    assert_eq!(ready["senderId"], "me");
    assert_eq!(ready["authenticated"], true);
    assert_eq!(
        ws.chat("Hello!", json!({})).await.last().unwrap()["type"],
        "chat.response"
    );

    // An explicit `auth.enabled: false` opens it.
    drop(server);
    let open = Server::start(&json!({"auth": {"enabled": false}}), dir.path());
    assert!(!open.banner.join("\n").contains("token="));
    open.ready("senderId=me").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (config, key) in [
        (
            json!({"channels": {"websocket": {"auth": {"timeout": "soon"}}}}),
            "channels.websocket.auth.timeout",
        ),
        (json!({"agent": {"backend": "gpt"}}), "agent.backend"),
        (
            json!({"agent": {"exec": {"comand": ["x"]}}}),
            "agent.exec.comand",
        ),
        (
            json!({"server": {"outboundQueue": 0}}),
            "server.outboundQueue",
        ),
    ] {
        let file = dir.path().join("bad.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawsocket"))
            .args(["serve", "--port", "0", "--config"])
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key} not named in {err}");
    }
    // YAML in the seed's shape is read.
    let yaml = dir.path().join("ok.yaml");
    std::fs::write(&yaml, "channels:\n  websocket:\n    enabled: true\n    port: 18800\n    path: \"/chat\"\n    auth:\n      enabled: false\n").unwrap();
    let value = clawsocket_server::settings::read_file(&yaml).unwrap();
    let settings =
        clawsocket_server::settings::build(Some(&value), &Default::default(), &Default::default())
            .unwrap();
    assert_eq!(settings.core.path, "/chat");
    assert!(matches!(
        settings.auth,
        clawsocket_server::settings::AuthMode::Open
    ));
}

#[test]
fn help_on_every_command() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["chat", "--help"],
        &["pairing", "--help"],
        &["pairing", "list", "--help"],
        &["pairing", "approve", "--help"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawsocket"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_refuse_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &open_config(json!({"server": {"maxConnectionsPerAddress": 2}})),
        dir.path(),
    );
    let a = server.ready("senderId=a").await;
    let _b = server.ready("senderId=b").await;
    let refused = tokio_tungstenite::connect_async(server.url("senderId=c")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("expected HTTP 503, got {:?}", other.map(|_| ())),
    }
    drop(a);
    // The slot frees once the server sees the close.
    let mut admitted = false;
    for _ in 0..50 {
        if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(server.url("senderId=c")).await {
            use futures_util::StreamExt as _;
            admitted = ws.next().await.is_some();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(admitted);
    assert!(
        server
            .metric("clawsocket_connections_refused_total ")
            .await
            .unwrap()
            >= 1.0
    );
}
