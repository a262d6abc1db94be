//! The benchmark's cycle in a plain loop, for profilers (`valgrind --tool=callgrind`).
//! `cargo run --release -p clawsocket-core --example hot_loop -- 20000 [users]`
//!
//! With `users` > 1, messages come from that many users in turn, each in their own session
//! (the `send` step of the benchmark): every send starts a turn while the others' are still
//! open, and the batch is finished afterwards.

use clawsocket_core::{Config, Event, Payload, Server, TurnId};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().ok());
    let n = args.next().flatten().unwrap_or(20_000);
    let users = args.next().flatten().unwrap_or(1).max(1) as usize;
    let config =
        Config::from_json(r#"{"auth":{"enabled":false},"limits":{"messagesPerMinute":0}}"#)
            .unwrap();
    let mut server = Server::new(config);
    let conns: Vec<_> = (0..users)
        .map(|i| server.handle_connect(0, &format!("senderId=user{i}")))
        .collect();
    let mut bytes = 0usize;
    let mut open: Vec<TurnId> = Vec::with_capacity(users);
    for now in 0..n {
        let conn = conns[now as usize % users];
        server
            .handle_text(now, conn, br#"{"type":"chat.send","content":"Hello! How are you today?","senderName":"John"}"#)
            .unwrap();
        while let Some(event) = server.poll_event() {
            if let Event::RunTurn(t) = event {
                open.push(t.id());
            }
        }
        if open.len() < users {
            continue;
        }
        for turn in open.drain(..) {
            server
                .handle_agent_delta(now, turn, "Hi John, I am fine.")
                .unwrap();
            server.handle_agent_final(now, turn, None).unwrap();
        }
        while let Some(t) = server.poll_transmit() {
            if let Payload::Text(text) = t.payload {
                bytes += text.len();
            }
        }
        while server.poll_event().is_some() {}
    }
    assert!(bytes > 0);
}
