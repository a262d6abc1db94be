//! Per-call overhead of the C API against calling the core from Rust, in one run.
//!
//! Both sides do the same work on the same configuration: the "bare" side calls
//! `clawsocket_core::Server` directly; the "C ABI" side calls the exported `extern "C"`
//! functions (the exact code a C host calls: argument checks, unwind guard, copying into the
//! caller's buffer). Prints nanoseconds per operation and the ratio C ABI / bare.
//!
//!     cargo bench -p clawsocket-ffi --bench overhead            # release figures
//!     cargo bench -p clawsocket-ffi --bench overhead -- 2000    # fewer iterations

use std::hint::black_box;
use std::ptr;
use std::time::Instant;

use clawsocket_core::{Config, ConnectionId, Event, Server, TurnId};
use clawsocket_ffi::*;

const CONFIG: &str = r#"{"auth":{"enabled":false},"limits":{"messagesPerMinute":0}}"#;
const SEND: &[u8] = br#"{"type":"chat.send","content":"Hello there, how are you?"}"#;

fn bare_turn(server: &mut Server, conn: ConnectionId, now: u64) {
    server.handle_text(now, conn, SEND).unwrap();
    let mut turn = None;
    while let Some(t) = server.poll_transmit() {
        black_box(t);
    }
    while let Some(e) = server.poll_event() {
        if let Event::RunTurn(t) = &e {
            turn = Some(t.id());
        }
        black_box(e.to_json());
    }
    let turn: TurnId = turn.expect("turn");
    server.handle_agent_delta(now, turn, "Fine, ").unwrap();
    server
        .handle_agent_final(now, turn, Some("Fine, thanks!"))
        .unwrap();
    while let Some(t) = server.poll_transmit() {
        black_box(t);
    }
    while let Some(e) = server.poll_event() {
        black_box(e.to_json());
    }
}

/// Drains through the C API; returns the subject id of the last `run_turn` event.
unsafe fn ffi_drain(server: *mut ClawsocketServer, buf: &mut [u8]) -> u64 {
    let (mut conn, mut kind, mut code, mut len) = (
        0u64,
        ClawsocketTransmitKind::CLAWSOCKET_TRANSMIT_TEXT,
        0u16,
        0usize,
    );
    let mut turn = 0;
    unsafe {
        while clawsocket_server_poll_transmit(
            server,
            &mut conn,
            &mut kind,
            &mut code,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut len,
        ) == ClawsocketResult::CLAWSOCKET_OK
        {
            black_box(&buf[..len]);
        }
        let (mut ekind, mut id) = (ClawsocketEventKind::CLAWSOCKET_EVENT_RUN_TURN, 0u64);
        while clawsocket_server_poll_event(
            server,
            &mut ekind,
            &mut id,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut len,
        ) == ClawsocketResult::CLAWSOCKET_OK
        {
            if ekind == ClawsocketEventKind::CLAWSOCKET_EVENT_RUN_TURN {
                turn = id;
            }
            black_box(&buf[..len]);
        }
    }
    turn
}

unsafe fn ffi_turn(server: *mut ClawsocketServer, conn: u64, now: u64, buf: &mut [u8]) {
    unsafe {
        let r = clawsocket_server_handle_text(server, now, conn, SEND.as_ptr().cast(), SEND.len());
        assert_eq!(r, ClawsocketResult::CLAWSOCKET_OK);
        let turn = ffi_drain(server, buf);
        assert_ne!(turn, 0);
        clawsocket_server_handle_agent_delta(server, now, turn, c"Fine, ".as_ptr());
        clawsocket_server_handle_agent_final(server, now, turn, c"Fine, thanks!".as_ptr());
        ffi_drain(server, buf);
    }
}

/// Best of `rounds` timings of `n` calls of `f`, in ns per call.
fn time(rounds: usize, n: u64, mut f: impl FnMut(u64)) -> f64 {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for i in 0..n {
                f(i);
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    // `cargo bench` passes `--bench`; the first number given sets the turn count.
    let turns: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let tiny = turns * 20;
    let rounds = 5;

    let mut bare = Server::new(Config::from_json(CONFIG).unwrap());
    let bare_conn = bare.handle_connect(0, "senderId=bench");
    while bare.poll_transmit().is_some() {}

    let mut ffi: *mut ClawsocketServer = ptr::null_mut();
    let mut buf = vec![0u8; 64 * 1024];
    let mut ffi_conn = 0u64;
    unsafe {
        let config = std::ffi::CString::new(CONFIG).unwrap();
        assert_eq!(
            clawsocket_server_new(config.as_ptr(), &mut ffi),
            ClawsocketResult::CLAWSOCKET_OK
        );
        clawsocket_server_handle_connect(ffi, 0, c"senderId=bench".as_ptr(), &mut ffi_conn);
        ffi_drain(ffi, &mut buf);
    }

    let mut now = 1;
    let bare_turn_ns = time(rounds, turns, |_| {
        now += 1;
        bare_turn(&mut bare, bare_conn, now);
    });
    let ffi_turn_ns = time(rounds, turns, |_| {
        now += 1;
        unsafe { ffi_turn(ffi, ffi_conn, now, &mut buf) };
    });

    let bare_timeout_ns = time(rounds, tiny, |_| {
        black_box(bare.poll_timeout());
    });
    let mut deadline = 0u64;
    let ffi_timeout_ns = time(rounds, tiny, |_| unsafe {
        black_box(clawsocket_server_poll_timeout(ffi, &mut deadline));
    });

    let bare_empty_ns = time(rounds, tiny, |_| {
        black_box(bare.poll_transmit());
    });
    let ffi_empty_ns = time(rounds, tiny, |_| unsafe {
        let (mut conn, mut kind, mut code, mut len) = (
            0u64,
            ClawsocketTransmitKind::CLAWSOCKET_TRANSMIT_TEXT,
            0u16,
            0usize,
        );
        black_box(clawsocket_server_poll_transmit(
            ffi,
            &mut conn,
            &mut kind,
            &mut code,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut len,
        ));
    });

    unsafe { clawsocket_server_free(ffi) };

    println!("clawsocket-ffi overhead ({turns} turns, {tiny} small calls, best of {rounds})");
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "operation", "bare ns/op", "C ABI ns/op", "ratio"
    );
    for (name, b, f) in [
        (
            "chat turn (send, stream, final, drain all)",
            bare_turn_ns,
            ffi_turn_ns,
        ),
        ("poll_timeout", bare_timeout_ns, ffi_timeout_ns),
        (
            "poll_transmit with nothing queued",
            bare_empty_ns,
            ffi_empty_ns,
        ),
    ] {
        println!("{name:<44} {b:>12.1} {f:>12.1} {:>8.2}", f / b);
    }
}
