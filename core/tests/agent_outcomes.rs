//! How a turn ends when the agent, not the client, decides: a failure with its own code, or a
//! run stopped on the agent's side.

use clawsocket_core::{
    AgentFailure, Config, ConnectionId, Event, Outcome, Payload, Server, TurnId, UsageError,
};

fn server() -> (Server, ConnectionId) {
    let config =
        Config::from_json(r#"{"auth":{"enabled":false},"limits":{"messagesPerMinute":0}}"#)
            .unwrap();
    let mut server = Server::new(config);
    let conn = server.handle_connect(0, "senderId=u1");
    drain(&mut server);
    (server, conn)
}

fn drain(server: &mut Server) -> Vec<String> {
    std::iter::from_fn(|| server.poll_transmit())
        .filter_map(|t| match t.payload {
            Payload::Text(text) => Some(text),
            _ => None,
        })
        .collect()
}

fn start(server: &mut Server, conn: ConnectionId) -> TurnId {
    server
        .handle_text(
            1,
            conn,
            br#"{"type":"chat.send","content":"hi","messageId":"m1"}"#,
        )
        .unwrap();
    drain(server);
    std::iter::from_fn(|| server.poll_event())
        .find_map(|e| match e {
            Event::RunTurn(t) => Some(t.id()),
            _ => None,
        })
        .expect("turn")
}

fn outcome(server: &mut Server) -> Option<(Outcome, String)> {
    std::iter::from_fn(|| server.poll_event()).find_map(|e| match e {
        Event::TurnFinished { outcome, text, .. } => Some((outcome, text)),
        _ => None,
    })
}

#[test]
fn failures_carry_their_own_code() {
    for (failure, code, retryable) in [
        (AgentFailure::Failed, "agent_error", false),
        (AgentFailure::TimedOut, "agent_timeout", true),
        (AgentFailure::RateLimited, "rate_limited", true),
    ] {
        let (mut server, conn) = server();
        let turn = start(&mut server, conn);
        server.handle_agent_delta(2, turn, "par").unwrap();
        drain(&mut server);
        server
            .handle_agent_failure(3, turn, failure, "the model gave up")
            .unwrap();
        let frames = drain(&mut server);
        assert_eq!(frames.len(), 1, "{frames:?}");
        let frame: serde_json::Value = serde_json::from_str(&frames[0]).unwrap();
        assert_eq!(frame["type"], "chat.error");
        assert_eq!(frame["messageId"], "m1");
        assert_eq!(frame["code"], code);
        assert_eq!(frame["error"], "the model gave up");
        assert_eq!(
            frame["retryable"].as_bool().unwrap_or(false),
            retryable,
            "{frame}"
        );
        assert_eq!(
            outcome(&mut server),
            Some((Outcome::Failed, "the model gave up".to_owned()))
        );
        // The turn is over: later output is ignored, a made-up turn is refused.
        server.handle_agent_delta(4, turn, "late").unwrap();
        assert!(drain(&mut server).is_empty());
        assert_eq!(
            server.handle_agent_failure(4, TurnId(99), failure, "x"),
            Err(UsageError::UnknownTurn)
        );
    }
}

#[test]
fn a_run_stopped_by_the_agent_ends_as_cancelled() {
    let (mut server, conn) = server();
    let turn = start(&mut server, conn);
    server.handle_agent_delta(2, turn, "Hello, wor").unwrap();
    drain(&mut server);
    server.handle_agent_cancelled(3, turn, None).unwrap();
    let frames = drain(&mut server);
    assert_eq!(
        frames,
        [
            r#"{"type":"chat.response","messageId":"m1","content":"Hello, wor","done":true,"cancelled":true}"#
        ]
    );
    assert_eq!(
        outcome(&mut server),
        Some((Outcome::Cancelled, "Hello, wor".to_owned()))
    );

    // With the agent's own final text, that text is the reply.
    let turn = start(&mut server, conn);
    server.handle_agent_delta(5, turn, "Hel").unwrap();
    drain(&mut server);
    server
        .handle_agent_cancelled(6, turn, Some("Hello"))
        .unwrap();
    let frames = drain(&mut server);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert!(
        frames[0].contains(r#""content":"Hello","done":true,"cancelled":true"#),
        "{frames:?}"
    );
}
