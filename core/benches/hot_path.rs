//! The protocol hot path, measured beside the same work done the way the seed plugin does it in
//! Node (`seed_baseline.js`: JSON.parse, validation, JSON.stringify), in the same invocation:
//!
//! - `send`: a `chat.send` frame in; its `chat.typing` frame (and the run-turn event) out.
//! - `delta`: agent text in; its cumulative `chat.stream` frame out (replies of 20 deltas).
//! - `cycle`: send, one stream frame and the final `chat.response`, turn bookkeeping included.
//!
//! Criterion reports the Rust figures; then both sides run alternately, twelve times for a
//! quarter of a second each, and the best rates and their ratios are printed.
//!
//! Frames are drained by reference (`poll_transmit_ref`), as the C API and the language bindings
//! do; `send, owned` repeats the send step draining with `poll_transmit`, which copies every
//! frame into a `String` of its own (what the Rust server does, handing it to its socket).
//!
//! The clock is read around batches, as the Node side does (it times 10,000 sends at once):
//! `send` times one message from each of ten users (each in their own session, so every
//! message starts a turn at once) and finishes the ten turns off the clock. Reading the clock
//! around every single send would add its own cost (about 80 ns a pair on the development VM)
//! to each one.
//!
//! `cargo bench -p clawsocket-core --bench hot_path`

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use clawsocket_core::{Config, ConnectionId, Event, Payload, PayloadRef, Server, TurnId};
use criterion::{Criterion, Throughput};

const FRAME: &[u8] =
    br#"{"type":"chat.send","content":"Hello! How are you today?","senderName":"John"}"#;
const REPLY: &str = "Hi John, I am fine.";
const WORDS: &str =
    "Hi John, I am fine, thanks for asking. How can I help you today with your project? ";

/// Users in the `send` batch.
const USERS: usize = 10;

/// Alternating runs of both sides, and how long each measurement of a run lasts.
const ROUNDS: usize = 12;
const ROUND_SECONDS: f64 = 0.25;

struct Bench {
    server: Server,
    /// One connection per user (`senderId=user<i>`).
    conns: Vec<ConnectionId>,
    now: u64,
    /// Drain frames with `poll_transmit` (owned) instead of `poll_transmit_ref`.
    owned: bool,
}

impl Bench {
    fn new() -> Bench {
        let config =
            Config::from_json(r#"{"auth":{"enabled":false},"limits":{"messagesPerMinute":0}}"#)
                .unwrap();
        let mut server = Server::new(config);
        let conns = (0..USERS)
            .map(|i| server.handle_connect(0, &format!("senderId=user{i}")))
            .collect();
        while server.poll_transmit().is_some() {}
        Bench {
            server,
            conns,
            now: 0,
            owned: false,
        }
    }

    fn owned() -> Bench {
        Bench {
            owned: true,
            ..Bench::new()
        }
    }

    fn drain(&mut self) -> usize {
        let mut bytes = 0;
        if self.owned {
            while let Some(t) = self.server.poll_transmit() {
                if let Payload::Text(text) = t.payload {
                    bytes += text.len();
                }
            }
        } else {
            while let Some(t) = self.server.poll_transmit_ref() {
                if let PayloadRef::Text(text) = t.payload {
                    bytes += text.len();
                }
            }
        }
        bytes
    }

    /// The send step for `user`: frame in, typing out, turn event out.
    fn send(&mut self, user: usize) -> TurnId {
        self.now += 1;
        self.server
            .handle_text(self.now, self.conns[user], FRAME)
            .unwrap();
        black_box(self.drain());
        let mut turn = None;
        while let Some(event) = self.server.poll_event() {
            if let Event::RunTurn(t) = event {
                turn = Some(t.id());
            }
        }
        turn.expect("turn")
    }

    /// One send from every user, timed; their turns finished untimed.
    fn send_batch(&mut self) -> Duration {
        let mut turns = [TurnId(0); USERS];
        let start = Instant::now();
        for (user, turn) in turns.iter_mut().enumerate() {
            *turn = self.send(user);
        }
        let spent = start.elapsed();
        for turn in turns {
            self.finish(turn);
        }
        spent
    }

    fn delta(&mut self, turn: TurnId, text: &str) {
        self.server
            .handle_agent_delta(self.now, turn, text)
            .unwrap();
        black_box(self.drain());
    }

    fn finish(&mut self, turn: TurnId) {
        self.server
            .handle_agent_final(self.now, turn, None)
            .unwrap();
        black_box(self.drain());
        while self.server.poll_event().is_some() {}
    }
}

fn words() -> Vec<&'static str> {
    WORDS.split_inclusive(' ').collect()
}

/// Sends per second: only the send steps are timed; the turns are finished off the clock.
fn send_rate(b: &mut Bench, seconds: f64) -> f64 {
    let (mut ops, mut spent) = (0u64, Duration::ZERO);
    while spent < Duration::from_secs_f64(seconds) {
        for _ in 0..100 {
            spent += b.send_batch();
        }
        ops += 100 * USERS as u64;
    }
    ops as f64 / spent.as_secs_f64()
}

/// Rust rates per second for send, delta, cycle and send with owned frames, measured like
/// the Node script does.
fn rust_rates(seconds: f64) -> [f64; 4] {
    let words = words();
    let mut rates = [0.0; 4];
    let mut b = Bench::new();
    rates[0] = send_rate(&mut b, seconds);
    // delta: 20 deltas per reply; the send and final are outside the clock.
    let (mut ops, mut spent) = (0u64, Duration::ZERO);
    while spent < Duration::from_secs_f64(seconds) {
        for _ in 0..100 {
            let turn = b.send(0);
            let start = Instant::now();
            for w in 0..20 {
                b.delta(turn, words[w % words.len()]);
            }
            spent += start.elapsed();
            b.finish(turn);
            ops += 20;
        }
    }
    rates[1] = ops as f64 / spent.as_secs_f64();
    // cycle: everything.
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        for _ in 0..1000 {
            let turn = b.send(0);
            b.delta(turn, REPLY);
            b.finish(turn);
        }
        ops += 1000;
    }
    rates[2] = ops as f64 / start.elapsed().as_secs_f64();
    rates[3] = send_rate(&mut Bench::owned(), seconds);
    rates
}

fn node_rates(seconds: f64) -> Option<[f64; 3]> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/seed_baseline.js");
    let out = Command::new("node")
        .arg(script)
        .arg(seconds.to_string())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut rates = [0.0; 3];
    for (i, name) in ["send", "delta", "cycle"].iter().enumerate() {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let mut parts = line.split_whitespace().skip(1);
        let ops: f64 = parts.next()?.parse().ok()?;
        let secs: f64 = parts.next()?.parse().ok()?;
        rates[i] = ops / secs;
    }
    Some(rates)
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("hot_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("send_to_typing", |bencher| {
        let mut b = Bench::new();
        bencher.iter_custom(|iters| {
            // Whole batches, at least `iters` sends, scaled back to `iters`.
            let batches = iters.div_ceil(USERS as u64);
            let spent: Duration = (0..batches).map(|_| b.send_batch()).sum();
            spent.mul_f64(iters as f64 / (batches * USERS as u64) as f64)
        });
    });
    group.bench_function("delta_to_stream", |bencher| {
        let mut b = Bench::new();
        let words = words();
        bencher.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let turn = b.send(0);
                let start = Instant::now();
                for w in 0..20.min(iters - done) {
                    b.delta(turn, words[w as usize % words.len()]);
                    done += 1;
                }
                spent += start.elapsed();
                b.finish(turn);
            }
            spent
        });
    });
    group.bench_function("full_cycle", |bencher| {
        let mut b = Bench::new();
        bencher.iter(|| {
            let turn = b.send(0);
            b.delta(turn, REPLY);
            b.finish(turn);
        });
    });
    group.finish();
    criterion.final_summary();

    // Same invocation, alternating in short runs, best of each: the development machines are
    // shared VMs whose speed drifts by up to half for seconds at a time, so a few long runs
    // often catch one side in a slow stretch and the other not. The best of many short runs
    // is each side's speed on a quiet machine.
    let mut rust = [0.0f64; 4];
    let mut node = [0.0f64; 3];
    let mut have_node = false;
    for _ in 0..ROUNDS {
        for (best, r) in rust.iter_mut().zip(rust_rates(ROUND_SECONDS)) {
            *best = best.max(r);
        }
        match node_rates(ROUND_SECONDS) {
            Some(n) => {
                have_node = true;
                for (best, r) in node.iter_mut().zip(n) {
                    *best = best.max(r);
                }
            }
            None => println!("node not found: no baseline"),
        }
    }
    println!();
    println!(
        "{:<12} {:>12} {:>16} {:>8}",
        "step", "rust core /s", "seed in node /s", "ratio"
    );
    // The owned-frames send is compared with the same Node send.
    let rows = [
        ("send", 0, 0),
        ("delta", 1, 1),
        ("cycle", 2, 2),
        ("send, owned", 3, 0),
    ];
    for (name, r, n) in rows {
        if have_node {
            println!(
                "{:<12} {:>12.0} {:>16.0} {:>7.2}x",
                name,
                rust[r],
                node[n],
                rust[r] / node[n]
            );
        } else {
            println!("{:<12} {:>12.0}", name, rust[r]);
        }
    }
}
