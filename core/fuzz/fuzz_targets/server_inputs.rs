//! Drives the server state machine with inputs decoded from the fuzzer's bytes: connects,
//! arbitrary text and binary frames, auth answers, agent output, disconnects and timeouts.
//! Any panic is a bug; so is a frame that is not a JSON object with a `type`.

#![no_main]

use clawsocket_core::{Config, ConnectionId, Event, Payload, Server, TurnId};
use libfuzzer_sys::fuzz_target;

const CONFIGS: &[&str] = &[
    r#"{"auth":{"enabled":false}}"#,
    r#"{"auth":{"enabled":true,"timeout":10},"busyPolicy":"interrupt","dmPolicy":"pairing"}"#,
    r#"{"auth":{"enabled":false},"limits":{"replayFrames":2,"maxQueuedTurns":1},"textChunkLimit":3,
        "dynamicAgentCreation":{"enabled":true,"maxAgents":1},"timing":{"heartbeatMs":5,"keepaliveMs":3,"agentTimeoutMs":7}}"#,
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut rest)) = data.split_first() else { return };
    let mut server = Server::new(Config::from_json(CONFIGS[usize::from(first) % CONFIGS.len()]).unwrap());
    let mut now = 0u64;
    let mut turns: Vec<TurnId> = Vec::new();
    let mut conns: Vec<ConnectionId> = Vec::new();
    while let Some((&op, tail)) = rest.split_first() {
        // A length-prefixed payload follows each operation.
        let len = usize::from(tail.first().copied().unwrap_or(0)).min(tail.len().saturating_sub(1));
        let payload = tail.get(1..1 + len).unwrap_or(&[]);
        rest = tail.get(1 + len..).unwrap_or(&[]);
        now += u64::from(op >> 4);
        let conn = conns.get(usize::from(op) % conns.len().max(1)).copied();
        let turn = turns.get(usize::from(op) % turns.len().max(1)).copied();
        match op % 9 {
            0 => conns.push(server.handle_connect(now, &String::from_utf8_lossy(payload))),
            1 | 2 => {
                if let Some(c) = conn {
                    let _ = server.handle_text(now, c, payload);
                }
            }
            3 => {
                if let Some(c) = conn {
                    let _ = server.handle_binary(now, c, payload);
                }
            }
            4 => {
                if let Some(c) = conn {
                    server.handle_auth_response(now, c, 200, payload);
                }
            }
            5 => {
                if let Some(t) = turn {
                    let _ = server.handle_agent_delta(now, t, &String::from_utf8_lossy(payload));
                }
            }
            6 => {
                if let Some(t) = turn {
                    let _ = server.handle_agent_final(now, t, None);
                }
            }
            7 => {
                if let Some(c) = conn {
                    let _ = server.handle_disconnect(now, c);
                    conns.retain(|x| *x != c);
                }
            }
            _ => server.handle_timeout(now),
        }
        // Drained owned or borrowed (the buffer behind both is the same), checking that a peek
        // shows what is taken next.
        loop {
            let peeked = server.peek_transmit().map(|t| t.to_transmit());
            let taken = if op & 1 == 0 {
                server.poll_transmit()
            } else {
                server.poll_transmit_ref().map(|t| t.to_transmit())
            };
            assert_eq!(peeked, taken);
            let Some(t) = taken else { break };
            if let Payload::Text(text) = t.payload {
                let v: serde_json::Value = serde_json::from_str(&text).expect("frames are JSON");
                assert!(v["type"].is_string(), "frame without type: {text}");
            }
        }
        while let Some(e) = server.poll_event() {
            if let Event::RunTurn(t) = e {
                turns.push(t.id());
            }
        }
    }
});
