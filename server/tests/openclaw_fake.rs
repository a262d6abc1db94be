//! The `openclaw` backend against a fake gateway (tests/common/openclaw_gateway.rs) that
//! speaks the gateway protocol and checks the device signature: what the real gateway
//! (tests/openclaw/) cannot be made to do on demand — refused signatures, approvals,
//! protocol 3, each errorKind, a socket dropped mid-reply, a silent link, a mute request.

mod common;
#[path = "common/openclaw_gateway.rs"]
mod openclaw_gateway;

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{is_final, last_text, open_config, Server};
use openclaw_gateway::{Behaviour, FakeGateway};
use serde_json::{json, Value};

const TOKEN_ENV: (&str, &str) = ("OPENCLAW_GATEWAY_TOKEN", "gateway-secret");

fn config(gateway: &FakeGateway, openclaw: Value) -> Value {
    let mut section = json!({
        "url": gateway.url(),
        "tokenEnv": "OPENCLAW_GATEWAY_TOKEN",
        "requestTimeoutMs": 3000,
        "reconnectWaitMs": 8000,
    });
    if let (Some(s), Value::Object(extra)) = (section.as_object_mut(), openclaw) {
        s.extend(extra);
    }
    open_config(json!({"agent": {"backend": "openclaw", "openclaw": section}}))
}

fn start(gateway: &FakeGateway, openclaw: Value, dir: &Path) -> Server {
    Server::start_with(Some(&config(gateway, openclaw)), dir, &[TOKEN_ENV])
}

fn streamed(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "chat.stream")
        .map(|f| f["content"].as_str().unwrap().to_owned())
        .collect()
}

fn error_of(frames: &[Value]) -> String {
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "chat.error", "{frames:?}");
    last["error"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_streamed_turn_history_and_device_reuse() {
    let gateway = FakeGateway::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&gateway, json!({}), dir.path());

    let mut ws = server.ready("senderId=Alice&senderName=Alice").await;
    let frames = ws.chat("hello there", json!({"messageId": "m-1"})).await;
    assert_eq!(last_text(&frames), "Hello world", "{frames:?}");
    // Cumulative streaming for a seed client, built from the gateway's deltas.
    assert_eq!(streamed(&frames), ["Hel", "Hello wor", "Hello world"]);

    gateway.seen(|s| {
        let connect = &s.connects[0];
        assert_eq!(connect["minProtocol"], 3);
        assert_eq!(connect["maxProtocol"], 4);
        assert_eq!(connect["client"]["id"], "gateway-client");
        assert_eq!(connect["client"]["mode"], "backend");
        assert_eq!(connect["role"], "operator");
        assert_eq!(
            connect["scopes"],
            json!(["operator.read", "operator.write"])
        );
        assert_eq!(connect["auth"]["token"], "gateway-secret");
        assert_eq!(s.verified_devices.len(), 1, "the signature verified");
        let send = &s.sends[0];
        // The core escapes uppercase so keys stay distinct after OpenClaw lowercases them.
        assert_eq!(send["sessionKey"], "agent:main:websocket:direct:%41lice");
        let key = send["idempotencyKey"].as_str().unwrap();
        assert!(key.starts_with("cs:") && key.ends_with(":m-1"), "{key}");
        assert!(
            send["message"]
                .as_str()
                .unwrap()
                .ends_with("Alice: hello there"),
            "{send}"
        );
    });

    // A reply quote goes along as replyToId and in the text, as the seed builds it.
    let frames = ws
        .chat(
            "and this?",
            json!({"messageId": "m-2", "replyToMessageId": "m-1", "replyToBody": "Hello world"}),
        )
        .await;
    assert!(is_final(frames.last().unwrap()));
    gateway.seen(|s| {
        let send = &s.sends[1];
        assert_eq!(send["replyToId"], "m-1");
        assert!(send["message"]
            .as_str()
            .unwrap()
            .contains("[Replying to: \"Hello world\"]"));
    });

    // History comes from the gateway's transcript, with our message ids.
    ws.send(json!({"type": "chat.history", "id": "h1"})).await;
    let page = ws
        .until(|f| f["type"] == "chat.history")
        .await
        .pop()
        .unwrap();
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{page}");
    assert_eq!(messages[0]["messageId"], "m-1");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["content"], "Hello world");
    assert_eq!(messages[1]["messageId"], "m-1");
    gateway.seen(|s| {
        assert_eq!(
            s.history_requests[0]["sessionKey"],
            "agent:main:websocket:direct:%41lice"
        )
    });

    // A protocol 1 client may reuse a message id (the seed README's example does): it runs.
    let frames = ws
        .chat("hello once more", json!({"messageId": "m-1"}))
        .await;
    assert_eq!(last_text(&frames), "Hello world", "{frames:?}");

    // The device file: 0600, with the device token from hello-ok; secrets not in the log.
    let file = dir.path().join("openclaw-device.json");
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(stored["deviceToken"], "device-token-1");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let first_device = gateway.seen(|s| s.verified_devices[0].clone());
    assert_eq!(stored["deviceId"], first_device.as_str());
    drop(ws);
    let logs = server.logs();
    assert!(
        !logs.contains("gateway-secret") && !logs.contains("device-token-1"),
        "{logs}"
    );
    assert!(server.terminate().success());

    // A restart reuses the identity.
    let server = start(&gateway, json!({}), dir.path());
    let mut ws = server.ready("senderId=Alice").await;
    let frames = ws.chat("hello again", json!({})).await;
    assert_eq!(last_text(&frames), "Hello world");
    gateway.seen(|s| assert_eq!(s.verified_devices, vec![first_device.clone(); 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_token_alone_is_enough_after_the_first_connect() {
    let gateway = FakeGateway::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&gateway, json!({}), dir.path());
    let mut ws = server.ready("senderId=bob").await;
    assert_eq!(last_text(&ws.chat("hello", json!({})).await), "Hello world");
    drop(ws);
    assert!(server.terminate().success());
    // No shared token configured any more: the stored device token authenticates.
    let config = config(&gateway, json!({}));
    let mut config = config;
    config["agent"]["openclaw"]
        .as_object_mut()
        .unwrap()
        .remove("tokenEnv");
    let server = Server::start_with(Some(&config), dir.path(), &[]);
    let mut ws = server.ready("senderId=bob").await;
    assert_eq!(last_text(&ws.chat("hello", json!({})).await), "Hello world");
    gateway.seen(|s| {
        assert_eq!(
            s.connects.last().unwrap()["auth"]["token"],
            "device-token-1"
        )
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_3_rewrites_and_each_error_kind() {
    let gateway = FakeGateway::start(Behaviour {
        protocol: 3,
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&gateway, json!({}), dir.path());
    let mut ws = server.ready("senderId=carol").await;
    // Protocol 3 has no deltaText: the stream is derived from the cumulative text.
    let frames = ws.chat("hello", json!({})).await;
    assert_eq!(streamed(&frames), ["Hel", "Hello wor", "Hello world"]);
    assert_eq!(last_text(&frames), "Hello world");
    // A rewritten text replaces the stream (delta clients get replace:true).
    let mut delta = server.ready("senderId=carol&protocol=2&stream=delta").await;
    let frames = delta.chat("rewrite", json!({})).await;
    let streams: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "chat.stream")
        .collect();
    assert_eq!(streams[0]["content"], "Draft");
    assert_eq!(streams[1]["content"], "Final answer");
    assert_eq!(streams[1]["replace"], true, "{frames:?}");
    assert_eq!(last_text(&frames), "Final answer");

    for (kind, code) in [
        ("refusal", "agent_error"),
        ("timeout", "agent_timeout"),
        ("rate_limit", "rate_limited"),
        ("context_length", "agent_error"),
        ("unknown", "agent_error"),
    ] {
        let frames = ws.chat(&format!("fail:{kind}"), json!({})).await;
        let error = error_of(&frames);
        assert!(error.contains(&format!("errorKind {kind}")), "{error}");
        assert!(error.contains(&format!("boom ({kind})")), "{error}");
        assert_eq!(frames.last().unwrap()["code"], code, "{frames:?}");
    }

    // A run aborted on the gateway (not by this client) ends as a cancelled reply.
    let frames = ws.chat("stopped elsewhere", json!({})).await;
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "chat.response", "{frames:?}");
    assert_eq!(last["cancelled"], true, "{frames:?}");
    assert_eq!(last["content"], "Half an ans", "{frames:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_4_rewrite_and_cancel_aborts_the_gateway_run() {
    let gateway = FakeGateway::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&gateway, json!({}), dir.path());
    let mut ws = server.ready("senderId=dave&protocol=2&stream=delta").await;
    let frames = ws.chat("hello", json!({})).await;
    assert_eq!(streamed(&frames), ["Hel", "lo wor", "ld"]);
    let frames = ws.chat("rewrite", json!({})).await;
    let last_stream = frames.iter().rfind(|f| f["type"] == "chat.stream").unwrap();
    assert_eq!(last_stream["content"], "Final answer");
    assert_eq!(last_stream["replace"], true);

    ws.send(json!({"type": "chat.send", "content": "slow please", "messageId": "m-slow"}))
        .await;
    ws.until(|f| f["type"] == "chat.stream").await;
    ws.send(json!({"type": "chat.cancel", "messageId": "m-slow"}))
        .await;
    let frames = ws.until(is_final).await;
    let last = frames.last().unwrap();
    assert_eq!(last["cancelled"], true, "{frames:?}");
    assert_eq!(last["content"], "Working");
    gateway
        .wait_for("chat.abort", |s| !s.aborts.is_empty())
        .await;
    gateway.seen(|s| {
        assert_eq!(
            s.aborts[0]["sessionKey"],
            "agent:main:websocket:direct:dave"
        );
        let run = s.aborts[0]["runId"].as_str().unwrap();
        assert!(run.ends_with(":m-slow"), "{run}");
        assert_eq!(s.sends.last().unwrap()["idempotencyKey"], run);
    });
    // The session goes on.
    assert_eq!(last_text(&ws.chat("hello", json!({})).await), "Hello world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_socket_silent_link_and_mute_request() {
    let gateway = FakeGateway::start(Behaviour {
        tick_ms: 1000,
        unavailable_connects: 1,
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&gateway, json!({"requestTimeoutMs": 1500}), dir.path());
    let mut ws = server.ready("senderId=erin").await;
    // The first connect met a starting gateway; the turn waited for the retry.
    assert_eq!(last_text(&ws.chat("hello", json!({})).await), "Hello world");

    // The gateway drops the socket mid-reply: that turn fails clearly...
    let error = error_of(&ws.chat("drop now", json!({})).await);
    assert!(error.contains("dropped during the reply"), "{error}");
    // ...and the next one waits for the reconnect and succeeds.
    assert_eq!(last_text(&ws.chat("hello", json!({})).await), "Hello world");

    // The gateway goes silent: after two tick intervals the bridge closes with 4000.
    let error = error_of(&ws.chat("silence now", json!({})).await);
    assert!(error.contains("dropped during the reply"), "{error}");
    gateway
        .wait_for("close 4000", |s| s.client_close_codes.contains(&4000))
        .await;
    assert_eq!(last_text(&ws.chat("hello", json!({})).await), "Hello world");

    // A request the gateway never answers times out.
    let error = error_of(&ws.chat("mute", json!({})).await);
    assert!(
        error.contains("did not answer chat.send within 1500 ms"),
        "{error}"
    );
    let logs = server.logs();
    assert!(logs.contains("two tick intervals"), "{logs}");
    gateway.seen(|s| assert!(s.accepted >= 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_signature_and_approval_needed_are_clear() {
    let gateway = FakeGateway::start(Behaviour {
        check_wrong_nonce: true,
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&gateway, json!({"reconnectWaitMs": 10000}), dir.path());
    let mut ws = server.ready("senderId=frank").await;
    let error = error_of(&ws.chat("hello", json!({})).await);
    assert!(
        error.contains("refused the connection") && error.contains("device signature invalid"),
        "{error}"
    );
    gateway.seen(|s| assert!(s.verified_devices.is_empty()));

    gateway.set(|b| {
        b.check_wrong_nonce = false;
        b.approval_needed = true;
    });
    // The bridge retries with backoff; wait until it met the new behaviour.
    for _ in 0..300 {
        if server.logs().contains("openclaw devices approve req-7") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let error = error_of(&ws.chat("hello", json!({})).await);
    assert!(error.contains("openclaw devices approve req-7"), "{error}");
    assert!(server.logs().contains("openclaw devices approve req-7"));

    // Once approved, turns go through.
    gateway.set(|b| b.approval_needed = false);
    let dir2 = tempfile::tempdir().unwrap();
    let again = start(&gateway, json!({}), dir2.path());
    let mut ws = again.ready("senderId=frank").await;
    assert_eq!(last_text(&ws.chat("hello", json!({})).await), "Hello world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_under_the_root_becomes_an_attachment_and_urls_stay_links() {
    let gateway = FakeGateway::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("cat.png"), b"\x89PNG fake").unwrap();
    let mut config = config(&gateway, json!({}));
    config["media"] = json!({"root": media});
    let server = Server::start_with(Some(&config), dir.path(), &[TOKEN_ENV]);
    let mut ws = server.ready("senderId=gina").await;
    let frames = ws
        .chat(
            "hello, look",
            json!({"mediaPaths": ["cat.png", "https://example.invalid/dog.jpg"]}),
        )
        .await;
    assert_eq!(last_text(&frames), "Hello world", "{frames:?}");
    gateway.seen(|s| {
        let send = &s.sends[0];
        let attachments = send["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 1);
        assert_eq!(attachments[0]["mimeType"], "image/png");
        assert_eq!(attachments[0]["fileName"], "cat.png");
        let content = STANDARD
            .decode(attachments[0]["content"].as_str().unwrap())
            .unwrap();
        assert_eq!(content, b"\x89PNG fake");
        assert!(send["message"]
            .as_str()
            .unwrap()
            .contains("[Attachment: https://example.invalid/dog.jpg]"));
    });
    // A path outside the root never reaches the gateway.
    let frames = ws
        .chat("hello", json!({"mediaPath": "../config.json"}))
        .await;
    assert_eq!(frames.last().unwrap()["type"], "chat.error");
    gateway.seen(|s| assert_eq!(s.sends.len(), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_backoff_grows_but_a_waiting_turn_retries_every_second() {
    let gateway = FakeGateway::start(Behaviour {
        reject_tcp: true,
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&gateway, json!({"reconnectWaitMs": 5000}), dir.path());
    // Attempts at about 0, 1, 3 and 7 s: the next idle one would be 8 s later.
    gateway
        .wait_for("four refused attempts", |s| s.tcp_rejected >= 4)
        .await;
    gateway.set(|b| b.reject_tcp = false);
    // A turn that waits makes the bridge retry every second, well within reconnectWaitMs.
    let mut ws = server.ready("senderId=hank").await;
    assert_eq!(last_text(&ws.chat("hello", json!({})).await), "Hello world");
    let logs = server.logs();
    assert!(logs.contains("cannot reach the OpenClaw gateway"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_gateway_resumed_on_the_session_is_interrupted() {
    // After a restart the real gateway resumes an interrupted run on its own; a plain send
    // would be steered into it and end with a bare final.
    let gateway = FakeGateway::start(Behaviour {
        recover_session: Some("agent:main:websocket:direct:ivy".into()),
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&gateway, json!({}), dir.path());
    gateway.wait_for("the handshake", |s| s.accepted == 1).await;
    let mut ws = server.ready("senderId=ivy").await;
    assert_eq!(last_text(&ws.chat("hello", json!({})).await), "Hello world");
    gateway.seen(|s| {
        assert_eq!(s.sends[0]["queueMode"], "interrupt");
        assert_eq!(s.interrupted, ["recovered-1"]);
    });
}
