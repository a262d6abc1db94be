//! The protocol hot path: a `chat.send` frame in, its typing frame out, a stream delta out and
//! the final reply out (one "cycle"). Criterion measures the cycle; then the same cycle done the
//! way the seed plugin does it in Node (`seed_baseline.js`: JSON.parse, validation,
//! JSON.stringify) runs in the same invocation and the ratio is printed.
//!
//! `cargo bench -p clawsocket-core --bench hot_path`

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use clawsocket_core::{Config, ConnectionId, Event, Server};
use criterion::{Criterion, Throughput};

const FRAME: &[u8] =
    br#"{"type":"chat.send","content":"Hello! How are you today?","senderName":"John"}"#;
const REPLY: &str = "Hi John, I am fine.";

fn server() -> (Server, ConnectionId) {
    let config =
        Config::from_json(r#"{"auth":{"enabled":false},"limits":{"messagesPerMinute":0}}"#)
            .unwrap();
    let mut server = Server::new(config);
    let conn = server.handle_connect(0, "senderId=user1");
    while server.poll_transmit().is_some() {}
    (server, conn)
}

/// One cycle; returns the bytes written so the work cannot be optimised away.
fn cycle(server: &mut Server, conn: ConnectionId, now: u64) -> usize {
    server.handle_text(now, conn, FRAME).unwrap();
    let mut bytes = 0;
    let mut turn = None;
    while let Some(event) = server.poll_event() {
        if let Event::RunTurn(t) = event {
            turn = Some(t.id);
        }
    }
    let turn = turn.expect("turn");
    server.handle_agent_delta(now, turn, REPLY).unwrap();
    server.handle_agent_final(now, turn, None).unwrap();
    while let Some(t) = server.poll_transmit() {
        if let clawsocket_core::Payload::Text(text) = t.payload {
            bytes += text.len();
        }
    }
    while server.poll_event().is_some() {}
    bytes
}

fn rust_cycles_per_second(seconds: f64) -> f64 {
    let (mut server, conn) = server();
    for i in 0..100_000 {
        black_box(cycle(&mut server, conn, i));
    }
    let start = Instant::now();
    let mut cycles = 0u64;
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        for _ in 0..10_000 {
            black_box(cycle(&mut server, conn, cycles));
            cycles += 1;
        }
    }
    cycles as f64 / start.elapsed().as_secs_f64()
}

fn node_cycles_per_second(seconds: f64) -> Option<f64> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/seed_baseline.js");
    let out = Command::new("node")
        .arg(script)
        .arg(seconds.to_string())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut parts = text.split_whitespace();
    let cycles: f64 = parts.next()?.parse().ok()?;
    let secs: f64 = parts.next()?.parse().ok()?;
    Some(cycles / secs)
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("hot_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("send_typing_stream_final", |b| {
        let (mut server, conn) = server();
        let mut now = 0;
        b.iter(|| {
            now += 1;
            black_box(cycle(&mut server, conn, now))
        });
    });
    group.finish();
    criterion.final_summary();

    // Same invocation, same machine state: Rust core vs the seed's Node code path, alternating.
    let mut rust = Vec::new();
    let mut node = Vec::new();
    for _ in 0..3 {
        rust.push(rust_cycles_per_second(1.0));
        match node_cycles_per_second(1.0) {
            Some(n) => node.push(n),
            None => println!("node not found: skipping the baseline"),
        }
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let rust = best(&rust);
    println!(
        "rust core:      {:>12.0} chat.send cycles/s (send + typing + stream + final)",
        rust
    );
    if !node.is_empty() {
        let node = best(&node);
        println!("seed in node:   {:>12.0} chat.send cycles/s", node);
        println!("ratio rust/node: {:.2}x", rust / node);
    }
}
