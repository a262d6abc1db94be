//! The client state machine on its own, and replay persistence across a server restart.

use clawsocket_core::{
    Client, ClientEvent, ClientOptions, Config, ErrorCode, Event, Payload, SendOptions, Server,
    StreamMode,
};

fn events(client: &mut Client) -> Vec<ClientEvent> {
    std::iter::from_fn(|| client.poll_event()).collect()
}

fn v1_client() -> Client {
    Client::new(ClientOptions {
        protocol: 1,
        stream: StreamMode::Cumulative,
        sender_id: Some("user 1".into()),
        sender_name: Some("Jöhn".into()),
        token: Some("a+b/c".into()),
        ..ClientOptions::default()
    })
}

#[test]
fn query_is_percent_encoded() {
    let c = v1_client();
    assert_eq!(
        c.connect_query(),
        "senderId=user%201&senderName=J%C3%B6hn&token=a%2Bb%2Fc"
    );
    let v2 = Client::new(ClientOptions::default());
    assert_eq!(v2.connect_query(), "protocol=2&stream=delta");
}

#[test]
fn seed_frames_assemble_into_replies() {
    let mut c = v1_client();
    assert_eq!(events(&mut c), [ClientEvent::Reconnect { attempt: 0 }]);
    c.handle_open(0);
    let id = c
        .send(
            1,
            &SendOptions {
                content: "hi".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        c.poll_transmit().unwrap(),
        format!(r#"{{"type":"chat.send","content":"hi","messageId":"{id}"}}"#)
    );
    // The seed's frames: typing without id, cumulative streams, a reply split in chunks.
    for frame in [
        r#"{"type":"chat.response","content":"Connected to WebSocket chat server"}"#,
        r#"{"type":"chat.typing"}"#,
        r#"{"type":"chat.stream","messageId":"m","content":"Hel","done":false}"#,
        r#"{"type":"chat.stream","messageId":"m","content":"Hello\nwor","done":false}"#,
        r#"{"type":"chat.response","messageId":"m","content":"Hello\n","done":false,"chunk":1,"chunks":2}"#,
        r#"{"type":"chat.response","messageId":"m","content":"world","done":true,"chunk":2,"chunks":2}"#,
        r#"{"type":"chat.error","messageId":"x","error":"nope","code":"busy","retryable":true,"retryAfterMs":5}"#,
        r#"{"type":"chat.error","error":"Failed to parse message"}"#,
        r#"{"type":"something.new","x":1}"#,
    ] {
        c.handle_frame(2, frame).unwrap();
    }
    assert_eq!(
        events(&mut c),
        [
            ClientEvent::Reply {
                message_id: String::new(),
                session_key: None,
                text: "Connected to WebSocket chat server".into(),
                cancelled: false
            },
            ClientEvent::Typing {
                message_id: String::new(),
                session_key: None,
            },
            ClientEvent::Partial {
                message_id: "m".into(),
                session_key: None,
                text: "Hel".into()
            },
            ClientEvent::Partial {
                message_id: "m".into(),
                session_key: None,
                text: "Hello\nwor".into()
            },
            ClientEvent::Reply {
                message_id: "m".into(),
                session_key: None,
                text: "Hello\nworld".into(),
                cancelled: false
            },
            ClientEvent::Error {
                message_id: Some("x".into()),
                session_key: None,
                code: Some(ErrorCode::Busy),
                code_text: Some("busy".into()),
                message: "nope".into(),
                retryable: true,
                retry_after_ms: Some(5),
            },
            ClientEvent::Error {
                message_id: None,
                session_key: None,
                code: None,
                code_text: None,
                message: "Failed to parse message".into(),
                retryable: false,
                retry_after_ms: None,
            },
        ]
    );
    assert!(c.handle_frame(3, "not json").is_err());
    assert!(c.handle_frame(3, "[1]").is_err());
    assert!(c
        .send(
            3,
            &SendOptions {
                content: "  ".into(),
                ..Default::default()
            }
        )
        .is_err());
}

#[test]
fn reconnects_back_off_and_stop_on_auth_failure() {
    let mut c = Client::new(ClientOptions {
        reconnect_base_ms: 100,
        reconnect_max_ms: 350,
        ..ClientOptions::default()
    });
    events(&mut c);
    let mut at = 0;
    let mut delays = Vec::new();
    for _ in 0..4 {
        c.handle_close(at, 1006);
        let next = c.poll_timeout().unwrap();
        delays.push(next - at);
        c.handle_timeout(next);
        assert!(events(&mut c).contains(&ClientEvent::Reconnect {
            attempt: delays.len() as u32
        }));
        at = next;
    }
    assert_eq!(delays, [100, 200, 350, 350]);
    c.handle_close(at, 4401);
    assert_eq!(
        c.poll_timeout(),
        None,
        "authentication failures are not retried"
    );
}

#[test]
fn frames_wait_while_the_socket_is_down_and_resume_on_reconnect() {
    let mut c = Client::new(ClientOptions::default());
    events(&mut c);
    let id = c
        .send(
            0,
            &SendOptions {
                content: "queued".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        c.poll_transmit(),
        None,
        "nothing goes out before the socket opens"
    );
    c.handle_open(1);
    assert!(c.poll_transmit().unwrap().contains("queued"));
    c.handle_frame(2, r#"{"type":"chat.ready","protocol":2,"senderId":"u","authenticated":false,"sessionKey":"k","heartbeatMs":1000}"#).unwrap();
    c.handle_frame(3, r#"{"type":"chat.stream","messageId":"z","content":"a","done":false,"sessionKey":"k","seq":4}"#).unwrap();
    // The message was not acknowledged: after a reconnect it is resent, after the resume.
    c.handle_close(4, 1006);
    c.handle_open(5);
    let out: Vec<String> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(
        out[0],
        r#"{"type":"chat.resume","sessionKey":"k","lastSeq":4}"#
    );
    assert!(out[1].contains(&format!(r#""messageId":"{id}""#)));
    // A replayed frame already seen is skipped; the ack stops the resending.
    c.handle_frame(6, r#"{"type":"chat.stream","messageId":"z","content":"a","done":false,"sessionKey":"k","seq":4}"#).unwrap();
    c.handle_frame(
        6,
        &format!(
            r#"{{"type":"chat.ack","messageId":"{id}","senderId":"u","sessionKey":"k","seq":5}}"#
        ),
    )
    .unwrap();
    let evs = events(&mut c);
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, ClientEvent::Partial { .. }))
            .count(),
        1
    );
    // Protocol 2 events name their session, so a client following several can route them.
    assert!(evs.iter().any(|e| matches!(
        e,
        ClientEvent::Partial { session_key: Some(k), .. } if k == "k"
    )));
    c.handle_close(7, 1006);
    c.handle_open(8);
    let out: Vec<String> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(
        out,
        [r#"{"type":"chat.resume","sessionKey":"k","lastSeq":5}"#]
    );
    // Heartbeat: a ping per interval while open.
    c.handle_frame(9, r#"{"type":"chat.ready","protocol":2,"senderId":"u","authenticated":false,"sessionKey":"k","heartbeatMs":1000}"#).unwrap();
    assert_eq!(c.poll_timeout(), Some(1009));
    c.handle_timeout(1009);
    assert_eq!(c.poll_transmit().as_deref(), Some(r#"{"type":"ping"}"#));
}

fn drain(server: &mut Server) -> Vec<String> {
    std::iter::from_fn(|| server.poll_transmit())
        .filter_map(|t| match t.payload {
            Payload::Text(text) => Some(text),
            Payload::Close { .. } => None,
        })
        .collect()
}

#[test]
fn replay_survives_a_restart_through_export_and_restore() {
    let config = || Config::from_json(r#"{"auth":{"enabled":false}}"#).unwrap();
    let mut before = Server::new(config());
    let conn = before.handle_connect(0, "senderId=u1&protocol=2");
    before
        .handle_text(
            1,
            conn,
            br#"{"type":"chat.send","content":"story","messageId":"s"}"#,
        )
        .unwrap();
    let turn = std::iter::from_fn(|| before.poll_event())
        .find_map(|e| {
            if let Event::RunTurn(t) = e {
                Some(t.id())
            } else {
                None
            }
        })
        .unwrap();
    before.handle_agent_delta(2, turn, "Once ").unwrap();
    before
        .handle_agent_final(3, turn, Some("Once upon a time"))
        .unwrap();
    let live = drain(&mut before);
    let exported = before.export_sessions();

    let mut after = Server::new(config());
    after.restore_sessions(0, &exported).unwrap();
    let conn = after.handle_connect(10, "senderId=u1&protocol=2");
    drain(&mut after);
    after
        .handle_text(11, conn, br#"{"type":"chat.resume","lastSeq":1}"#)
        .unwrap();
    let replayed = drain(&mut after);
    // Exactly the frames the first server sent after seq 1, byte for byte, then the marker.
    assert_eq!(replayed[..replayed.len() - 1], live[2..]);
    assert!(replayed
        .last()
        .unwrap()
        .contains(r#""replayed":3,"gap":false"#));
    // New frames continue the sequence.
    after
        .handle_text(
            12,
            conn,
            br#"{"type":"chat.send","content":"more","messageId":"t"}"#,
        )
        .unwrap();
    assert!(drain(&mut after)[0].ends_with(r#""seq":5}"#));
    assert!(after.restore_sessions(0, "{}").is_err());
    assert!(after
        .restore_sessions(
            0,
            r#"{"version":1,"sessions":[{"sessionKey":"k","nextSeq":2,"frames":[{"seq":9}]}]}"#
        )
        .is_err());
}

#[test]
fn debug_output_never_shows_tokens() {
    let options = ClientOptions {
        token: Some("s3cret-token".into()),
        ..ClientOptions::default()
    };
    let client = Client::new(options.clone());
    assert!(!format!("{options:?}").contains("s3cret"));
    assert!(!format!("{client:?}").contains("s3cret"));
    let config = Config::from_json(r#"{"auth":{"enabled":true}}"#).unwrap();
    let mut server = Server::new(config);
    server.handle_connect(0, "token=s3cret-token");
    let event = server.poll_event().unwrap();
    assert!(
        event.to_json().contains("s3cret"),
        "the host needs the token to verify it"
    );
    assert!(!format!("{event:?}").contains("s3cret"));
    assert!(!format!("{server:?}").contains("s3cret"));
}
