//! The benchmark's cycle in a plain loop, for profilers (`valgrind --tool=callgrind`).
//! `cargo run --release -p clawsocket-core --example hot_loop -- 20000`

use clawsocket_core::{Config, Event, Payload, Server};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let config =
        Config::from_json(r#"{"auth":{"enabled":false},"limits":{"messagesPerMinute":0}}"#)
            .unwrap();
    let mut server = Server::new(config);
    let conn = server.handle_connect(0, "senderId=user1");
    let mut bytes = 0usize;
    for now in 0..n {
        server
            .handle_text(now, conn, br#"{"type":"chat.send","content":"Hello! How are you today?","senderName":"John"}"#)
            .unwrap();
        let mut turn = None;
        while let Some(event) = server.poll_event() {
            if let Event::RunTurn(t) = event {
                turn = Some(t.id());
            }
        }
        let turn = turn.unwrap();
        server
            .handle_agent_delta(now, turn, "Hi John, I am fine.")
            .unwrap();
        server.handle_agent_final(now, turn, None).unwrap();
        while let Some(t) = server.poll_transmit() {
            if let Payload::Text(text) = t.payload {
                bytes += text.len();
            }
        }
        while server.poll_event().is_some() {}
    }
    assert!(bytes > 0);
}
