//! Lifecycle under real conditions: restart with history intact, shutdown during a turn, a
//! disconnect in the middle of a reply followed by a v2 resume, a client that stops reading,
//! and a burst of malformed frames next to a well-behaved user.

mod common;

use std::time::Duration;

use common::{last_text, open_config, write_script, Server};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_history_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let config = open_config(json!({}));
    let server = Server::start(&config, dir.path());
    let mut ws = server.ready("senderId=john&protocol=2").await;
    let frames = ws.chat("My name is John", json!({})).await;
    let final_seq = frames.last().unwrap()["seq"]
        .as_u64()
        .expect("v2 frames carry seq");
    drop(ws);
    assert!(server.terminate().success());

    let server = Server::start(&config, dir.path());
    let mut ws = server.ready("senderId=john&protocol=2").await;
    // The replay buffer survived: resuming from 0 replays the earlier reply.
    ws.send(json!({"type": "chat.resume", "lastSeq": 0})).await;
    let frames = ws.until(|f| f["type"] == "chat.resumed").await;
    let resumed = frames.last().unwrap();
    assert_eq!(resumed["seq"].as_u64(), Some(final_seq), "{frames:?}");
    assert!(resumed["replayed"].as_u64().unwrap() > 0, "{resumed}");
    // The agent's memory (the store) survived.
    let frames = ws.chat("What is my name?", json!({})).await;
    assert!(
        last_text(&frames).starts_with("Your name is John."),
        "{frames:?}"
    );
    // chat.history pages from the store.
    ws.send(json!({"type": "chat.history", "limit": 10})).await;
    let history = ws
        .until(|f| f["type"] == "chat.history")
        .await
        .pop()
        .unwrap();
    let messages = history["messages"].as_array().unwrap();
    let contents: Vec<&str> = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 4, "{history}");
    assert_eq!(contents[0], "My name is John");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["role"], "assistant");
    assert!(contents[3].starts_with("Your name is John."));
    ws.send(json!({"type": "chat.history", "limit": 3})).await;
    let page = ws
        .until(|f| f["type"] == "chat.history")
        .await
        .pop()
        .unwrap();
    assert_eq!(page["messages"].as_array().unwrap().len(), 3);
    let cursor = page["nextCursor"].as_str().expect("more pages").to_owned();
    ws.send(json!({"type": "chat.history", "limit": 3, "cursor": cursor}))
        .await;
    let older = ws
        .until(|f| f["type"] == "chat.history")
        .await
        .pop()
        .unwrap();
    assert_eq!(
        older["messages"][0]["content"], "My name is John",
        "{older}"
    );
    assert_eq!(older["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_turn() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &open_config(json!({"agent": {"builtin": {"delayMs": 1000}}})),
        dir.path(),
    );
    let mut ws = server.ready("senderId=s1").await;
    ws.send(json!({"type": "chat.send", "content": "Tell me a long story please"}))
        .await;
    ws.until(|f| f["type"] == "chat.stream").await;
    let status = std::thread::spawn(move || server.terminate());
    let frames = ws.until_closed().await;
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "chat.response", "{frames:?}");
    assert_eq!(last["done"], true);
    assert_eq!(last["cancelled"], true);
    assert!(
        !last["content"].as_str().unwrap().is_empty(),
        "the text so far is kept"
    );
    assert_eq!(ws.close_code, Some(1001));
    assert!(status.join().unwrap().success());

    // The cancelled reply was stored before exit.
    let server = Server::start(&open_config(json!({})), dir.path());
    let mut ws = server.ready("senderId=s1").await;
    ws.send(json!({"type": "chat.history"})).await;
    let history = ws
        .until(|f| f["type"] == "chat.history")
        .await
        .pop()
        .unwrap();
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        2,
        "{history}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_mid_reply_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &open_config(json!({"agent": {"builtin": {"delayMs": 120}}})),
        dir.path(),
    );
    let mut ws = server.ready("senderId=r1&protocol=2").await;
    ws.send(json!({"type": "chat.send", "content": "Hello there, this reply will be long enough to stream", "messageId": "m1"})).await;
    let frames = ws.until(|f| f["type"] == "chat.stream").await;
    let seen = frames.last().unwrap()["seq"].as_u64().unwrap();
    drop(ws); // gone mid-reply

    // The reply keeps running without a socket; wait until it is certainly done.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut ws = server.ready("senderId=r1&protocol=2").await;
    ws.send(json!({"type": "chat.resume", "lastSeq": seen}))
        .await;
    let mut frames = ws.until(|f| f["type"] == "chat.resumed").await;
    // On a slow machine the reply may still be running: the rest then arrives live.
    if !frames.iter().any(|f| f["type"] == "chat.response") {
        frames.extend(ws.until(|f| f["type"] == "chat.response").await);
    }
    let final_frame = frames
        .iter()
        .find(|f| f["type"] == "chat.response" && f["messageId"] == "m1")
        .unwrap_or_else(|| panic!("the rest of the reply arrives: {frames:?}"));
    assert_eq!(final_frame["done"], true);
    assert!(final_frame["content"]
        .as_str()
        .unwrap()
        .starts_with("Hello r1!"));
    assert!(
        frames
            .iter()
            .all(|f| f["seq"].as_u64().is_none_or(|s| s > seen)),
        "{frames:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    // 20 MB of output as 20,000 delta frames: far more than socket buffers hold.
    let script = write_script(
        dir.path(),
        "flood.sh",
        "cat > /dev/null\nawk 'BEGIN { for (i = 0; i < 20000; i++) printf \"%01000d\\n\", i }'\n",
    );
    let config = open_config(json!({
        "agent": {"backend": "exec", "exec": {"command": ["sh", script.display().to_string()]}},
        "server": {"outboundQueue": 16}
    }));
    let server = Server::start(&config, dir.path());
    let mut slow = server.ready("senderId=slow&protocol=2&stream=delta").await;
    slow.send(json!({"type": "chat.send", "content": "flood me"}))
        .await;
    // Not reading. The server must give up on this client rather than buffer 20 MB.
    let mut closed = false;
    for _ in 0..100 {
        if server
            .metric("clawsocket_closes_total{code=\"4008\"}")
            .await
            == Some(1.0)
        {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "slow consumer not closed; logs:\n{}", server.logs());
    // What the client can still read ends without the final reply.
    let frames = slow.until_closed().await;
    assert!(
        frames.iter().all(|f| f["type"] != "chat.response"),
        "closed before the end"
    );
    assert!(
        slow.close_code.is_none_or(|c| c == 4008),
        "{:?}",
        slow.close_code
    );
    assert!(server.logs().contains("slow consumer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_burst_leaves_others_unaffected() {
    let dir = tempfile::tempdir().unwrap();
    let config = open_config(json!({"limits": {"maxFrameBytes": 4096}}));
    let server = Server::start(&config, dir.path());
    let mut good = server.ready("senderId=good").await;
    let mut bad = server.ready("senderId=bad").await;
    let huge = "x".repeat(8000);
    let garbage: Vec<String> = vec![
        "not json".into(),
        "{".into(),
        "[]".into(),
        r#"{"type":"chat.send"}"#.into(),
        r#"{"type":"chat.send","content":""}"#.into(),
        r#"{"type":"chat.send","content":5}"#.into(),
        r#"{"type":"nope","content":"x"}"#.into(),
        format!(r#"{{"type":"chat.send","content":"{huge}"}}"#),
        r#"{"type":"chat.send","content":"x","mediaPath":"/etc/passwd"}"#.into(),
        r#"{"type":"chat.send","content":"x","mediaPath":"../../secret"}"#.into(),
    ];
    let sender = tokio::spawn(async move {
        for _ in 0..20 {
            for g in &garbage {
                bad.send_raw(g).await;
            }
            bad.inner
                .send(tokio_tungstenite::tungstenite::Message::binary(vec![
                    0u8, 1, 2,
                ]))
                .await
                .unwrap();
        }
        bad
    });
    use futures_util::SinkExt as _;
    for i in 0..5 {
        let frames = good.chat(&format!("message {i}"), json!({})).await;
        assert_eq!(
            frames.last().unwrap()["type"],
            "chat.response",
            "{frames:?}"
        );
        assert!(last_text(&frames).contains(&format!("message {i}")));
    }
    let mut bad = sender.await.unwrap();
    // The bad client got stable error codes, never a reply.
    let mut codes = std::collections::BTreeSet::new();
    let wanted = [
        "invalid_json",
        "empty_content",
        "frame_too_large",
        "binary_frame",
        "invalid_media",
    ];
    while !wanted.iter().all(|c| codes.contains(*c)) {
        match bad.next_json().await {
            Some(f) if f["type"] == "chat.error" => {
                codes.insert(f["code"].as_str().unwrap().to_owned());
            }
            Some(f) => assert_ne!(f["type"], "chat.response", "{f}"),
            None => break,
        }
    }
    for code in wanted {
        assert!(codes.contains(code), "{code} missing from {codes:?}");
    }
    assert_eq!(server.get("/healthz").await.0, 200);
    let frames = good.chat("still fine?", json!({})).await;
    assert_eq!(frames.last().unwrap()["type"], "chat.response");
}
