//! The benchmark's steps in a plain loop, for profilers (`valgrind --tool=callgrind`).
//! `cargo run --release -p clawsocket-core --example hot_loop -- 20000 [users]`
//!
//! With `users` > 1, messages come from that many users in turn, each in their own session
//! (the `send` step of the benchmark): every send starts a turn while the others' are still
//! open, and the batch is finished afterwards.
//!
//! The send step (frame in, its outputs drained, as `benches/hot_path.rs` times it) is one
//! function, so `--toggle-collect='hot_loop::send_step'` counts only what the benchmark's `send`
//! times; `hot_loop::finish_step` is the rest of the cycle (one delta and the final reply).

use clawsocket_core::{Config, ConnectionId, Event, PayloadRef, Server, TurnId};

const FRAME: &[u8] =
    br#"{"type":"chat.send","content":"Hello! How are you today?","senderName":"John"}"#;

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
    while server.poll_transmit_ref().is_some() {}
    let mut bytes = 0usize;
    let mut open: Vec<TurnId> = Vec::with_capacity(users);
    for now in 0..n {
        let conn = conns[now as usize % users];
        let (turn, sent) = send_step(&mut server, now, conn);
        bytes += sent;
        open.push(turn);
        if open.len() < users {
            continue;
        }
        for turn in open.drain(..) {
            bytes += finish_step(&mut server, now, turn);
        }
    }
    assert!(bytes > 0);
}

/// A `chat.send` frame in; its typing frame and run-turn event out.
#[inline(never)]
fn send_step(server: &mut Server, now: u64, conn: ConnectionId) -> (TurnId, usize) {
    server.handle_text(now, conn, FRAME).unwrap();
    let mut bytes = 0;
    while let Some(t) = server.poll_transmit_ref() {
        if let PayloadRef::Text(text) = t.payload {
            bytes += text.len();
        }
    }
    let mut turn = None;
    while let Some(event) = server.poll_event() {
        if let Event::RunTurn(t) = event {
            turn = Some(t.id());
        }
    }
    (turn.expect("turn"), bytes)
}

/// One stream delta and the final reply of `turn`, every output drained.
#[inline(never)]
fn finish_step(server: &mut Server, now: u64, turn: TurnId) -> usize {
    server
        .handle_agent_delta(now, turn, "Hi John, I am fine.")
        .unwrap();
    server.handle_agent_final(now, turn, None).unwrap();
    let mut bytes = 0;
    while let Some(t) = server.poll_transmit_ref() {
        if let PayloadRef::Text(text) = t.payload {
            bytes += text.len();
        }
    }
    while server.poll_event().is_some() {}
    bytes
}
