//! Randomised tests on a simulated clock (deterministic seeds, so a failure is reproducible).
//!
//! 1. `random_inputs_keep_invariants`: long random sequences of every input (random bytes,
//!    mutated valid frames, auth answers, agent output for real and bogus turns, disconnects,
//!    random timing). Nothing may panic, and the outputs must respect the core's invariants.
//! 2. `resume_delivers_every_reply_exactly_once`: many v2 clients (the core's own `Client`)
//!    chat while their sockets drop and reconnect at random; every client must end with exactly
//!    the replies to its own messages, in order, none lost, none duplicated, none run twice.

use std::collections::{BTreeMap, BTreeSet};

use clawsocket_core::client::ClientOptions;
use clawsocket_core::{
    Client, ClientEvent, Config, ConnectionId, Event, Payload, SendOptions, Server, StreamMode,
    TurnId,
};

/// xorshift64*: small, deterministic, good enough to drive a simulation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const VALID_FRAMES: &[&str] = &[
    r#"{"type":"chat.send","content":"Hello!"}"#,
    r#"{"type":"chat.send","content":"Hi there!","senderId":"user_123","senderName":"Alice"}"#,
    r#"{"type":"chat.send","content":"I agree","replyToBody":"Let's use Python"}"#,
    r#"{"type":"chat.send","content":"Hello everyone!","chatType":"group","groupId":"dev-team","groupSubject":"Dev"}"#,
    r#"{"type":"chat.send","content":"Process this","customData":{"priority":"high"}}"#,
    r#"{"type":"chat.send","content":"media","mediaPaths":["a.png","https://x.y/z"],"mediaTypes":["image/png"]}"#,
    r#"{"type":"chat.send","content":"dup","messageId":"same-id"}"#,
    r#"{"type":"chat.cancel"}"#,
    r#"{"type":"chat.cancel","messageId":"same-id"}"#,
    r#"{"type":"chat.resume","lastSeq":3}"#,
    r#"{"type":"chat.resume","sessionKey":"agent:main:websocket:group:dev-team","lastSeq":0}"#,
    r#"{"type":"chat.history","limit":5}"#,
    r#"{"type":"chat.hello","protocol":2,"stream":"delta"}"#,
    r#"{"type":"ping","id":"x"}"#,
];

const CONFIGS: &[&str] = &[
    r#"{"auth":{"enabled":false}}"#,
    r#"{"auth":{"enabled":true,"required":true,"timeout":50}}"#,
    r#"{"auth":{"enabled":true,"required":false,"timeout":50},"busyPolicy":"interrupt"}"#,
    r#"{"auth":{"enabled":false},"busyPolicy":"reject","dmPolicy":"pairing","limits":{"replayFrames":4,"maxQueuedTurns":1,"messageBurst":3}}"#,
    r#"{"auth":{"enabled":false},"dynamicAgentCreation":{"enabled":true,"maxAgents":2},"textChunkLimit":5,"timing":{"heartbeatMs":40,"keepaliveMs":15,"agentTimeoutMs":60,"idleTimeoutMs":90}}"#,
];

fn mutate(rng: &mut Rng, frame: &str) -> Vec<u8> {
    let mut bytes = frame.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let i = rng.below(bytes.len() as u64) as usize;
        match rng.below(4) {
            0 => bytes[i] = rng.next() as u8,
            1 => {
                bytes.remove(i);
            }
            2 => bytes.insert(i, *rng.pick(b"{}[]\":,\\0a \xff")),
            _ => bytes.truncate(i),
        }
    }
    bytes
}

#[test]
fn random_inputs_keep_invariants() {
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let config = Config::from_json(CONFIGS[(seed as usize) % CONFIGS.len()]).unwrap();
        let mut server = Server::new(config);
        let mut now = 0u64;
        let mut live: BTreeSet<u64> = BTreeSet::new();
        let mut closed: BTreeSet<u64> = BTreeSet::new();
        let mut turns: Vec<TurnId> = Vec::new();
        let mut verifying: Vec<ConnectionId> = Vec::new();
        let mut history: Vec<u64> = Vec::new();
        for step in 0..3000 {
            now += rng.below(12);
            match rng.below(20) {
                0 | 1 => {
                    let query = *rng.pick(&[
                        "",
                        "senderId=a",
                        "senderId=b&protocol=2",
                        "senderId=a&protocol=2&stream=delta",
                        "token=t",
                        "token=t&protocol=2",
                        "senderId=%zz&senderName=%E4%B8%AD",
                        "protocol=9",
                    ]);
                    let id = server.handle_connect(now, query);
                    live.insert(id.0);
                }
                2..=7 if !live.is_empty() => {
                    let conn = ConnectionId(*rng.pick(&live.iter().copied().collect::<Vec<_>>()));
                    let frame = *rng.pick(VALID_FRAMES);
                    let data = if rng.chance(40) {
                        mutate(&mut rng, frame)
                    } else {
                        frame.as_bytes().to_vec()
                    };
                    server.handle_text(now, conn, &data).unwrap();
                }
                8 if !live.is_empty() => {
                    let conn = ConnectionId(*rng.pick(&live.iter().copied().collect::<Vec<_>>()));
                    let len = rng.below(64) as usize;
                    let junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    if rng.chance(50) {
                        server.handle_text(now, conn, &junk).unwrap();
                    } else {
                        server.handle_binary(now, conn, &junk).unwrap();
                    }
                }
                9 if !verifying.is_empty() => {
                    let conn = *rng.pick(&verifying);
                    let body: &&str = rng.pick(&[
                        r#"{"success":true,"data":{"userId":"a","username":"A"}}"#,
                        r#"{"success":false,"error":"nope"}"#,
                        "garbage",
                        r#"{"success":true,"data":{"userId":7}}"#,
                    ]);
                    let status = *rng.pick(&[200u16, 401, 500]);
                    if rng.chance(20) {
                        server.handle_auth_unavailable(now, conn);
                    } else {
                        server.handle_auth_response(now, conn, status, body.as_bytes());
                    }
                }
                10..=13 if !turns.is_empty() => {
                    let turn = *rng.pick(&turns);
                    let result = match rng.below(6) {
                        0 | 1 => server.handle_agent_delta(now, turn, "chunk\n"),
                        2 => server.handle_agent_text(now, turn, "rewritten text"),
                        3 => server.handle_agent_final(now, turn, None),
                        4 => server.handle_agent_final(now, turn, Some("final\nanswer")),
                        _ => server.handle_agent_error(now, turn, "boom"),
                    };
                    result.unwrap();
                }
                14 if !live.is_empty() => {
                    let conn = *rng.pick(&live.iter().copied().collect::<Vec<_>>());
                    server.handle_disconnect(now, ConnectionId(conn)).unwrap();
                    live.remove(&conn);
                    closed.remove(&conn);
                }
                15 if !history.is_empty() => {
                    let request = history.remove(0);
                    let page = if rng.chance(50) {
                        Ok(Default::default())
                    } else {
                        Err("offline")
                    };
                    server.handle_history(now, request, page).unwrap();
                }
                16 => {
                    let code = *rng.pick(&["AAAAAAAA", "", "zzzz"]);
                    let _ = server.approve_pairing(now, code);
                }
                _ => {
                    if let Some(at) = server.poll_timeout() {
                        assert!(at <= now + 10_000_000, "deadline far in the future: {at}");
                        if at <= now {
                            server.handle_timeout(now);
                        }
                    }
                }
            }
            // Drain and check every output, owned or borrowed in turn (the same buffer is
            // behind both); a peek shows what is taken next.
            loop {
                let peeked = server.peek_transmit().map(|t| t.to_transmit());
                let taken = if step % 2 == 0 {
                    server.poll_transmit()
                } else {
                    server.poll_transmit_ref().map(|t| t.to_transmit())
                };
                assert_eq!(peeked, taken, "seed {seed}: peek and poll disagree");
                let Some(t) = taken else { break };
                let id = t.connection.0;
                assert!(
                    live.contains(&id),
                    "seed {seed}: transmit to a disconnected connection {id}"
                );
                assert!(
                    !closed.contains(&id),
                    "seed {seed}: transmit after close to {id}: {:?}",
                    t.payload
                );
                match t.payload {
                    Payload::Text(text) => {
                        let v: serde_json::Value =
                            serde_json::from_str(&text).unwrap_or_else(|e| {
                                panic!("seed {seed}: frame is not JSON ({e}): {text}")
                            });
                        assert!(
                            v.get("type").and_then(|t| t.as_str()).is_some(),
                            "seed {seed}: untyped frame {text}"
                        );
                        if v["type"] == "chat.error" {
                            assert!(
                                v["code"].is_string(),
                                "seed {seed}: error without code {text}"
                            );
                        }
                    }
                    Payload::Close { code, .. } => {
                        assert!(
                            matches!(code, 1001 | 4401 | 4408),
                            "seed {seed}: unexpected close code {code}"
                        );
                        closed.insert(id);
                    }
                }
            }
            while let Some(e) = server.poll_event() {
                let json = e.to_json();
                assert!(
                    serde_json::from_str::<serde_json::Value>(&json).is_ok(),
                    "seed {seed}: event JSON {json}"
                );
                match e {
                    Event::RunTurn(t) => turns.push(t.id()),
                    Event::VerifyToken { connection, .. } => verifying.push(connection),
                    Event::FetchHistory { request, .. } => history.push(request),
                    _ => {}
                }
            }
            assert_eq!(
                server.connection_count(),
                live.len(),
                "seed {seed}: connection count"
            );
        }
        // Everything ends cleanly.
        server.handle_shutdown(now);
        while let Some(t) = server.poll_transmit() {
            assert!(live.contains(&t.connection.0));
        }
        assert_eq!(
            server.turn_count(),
            0,
            "seed {seed}: turns left after shutdown"
        );
    }
}

/// One simulated device.
struct Device {
    client: Client,
    conn: Option<ConnectionId>,
    sent: Vec<String>,
    replies: BTreeMap<String, Vec<String>>,
    partials: BTreeMap<String, String>,
    gaps: usize,
}

#[test]
fn resume_delivers_every_reply_exactly_once() {
    for seed in 1..=12u64 {
        let stats = run_resume_simulation(seed, 512);
        assert_eq!(
            stats.gaps, 0,
            "seed {seed}: a 512-frame buffer should never leave a gap"
        );
        assert!(
            stats.drops >= 20,
            "seed {seed}: the network dropped only {} sockets",
            stats.drops
        );
        assert!(
            stats.replayed > 0,
            "seed {seed}: no resume replayed anything"
        );
    }
}

struct Stats {
    drops: usize,
    gaps: usize,
    replayed: u64,
}

fn run_resume_simulation(seed: u64, replay_frames: usize) -> Stats {
    let mut stats = Stats {
        drops: 0,
        gaps: 0,
        replayed: 0,
    };
    let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
    let config = Config::from_json(&format!(
        r#"{{"auth":{{"enabled":false}},"limits":{{"replayFrames":{replay_frames},"messagesPerMinute":0,"maxQueuedTurns":100}},
            "timing":{{"heartbeatMs":0,"idleTimeoutMs":0,"keepaliveMs":0,"agentTimeoutMs":0}}}}"#
    ))
    .unwrap();
    let mut server = Server::new(config);
    let mut devices: Vec<Device> = (0..6)
        .map(|i| Device {
            client: Client::new(ClientOptions {
                sender_id: Some(format!("user{i}")),
                stream: if i % 2 == 0 {
                    StreamMode::Delta
                } else {
                    StreamMode::Cumulative
                },
                message_id_prefix: format!("d{i}"),
                reconnect_base_ms: 5,
                reconnect_max_ms: 40,
                ..ClientOptions::default()
            }),
            conn: None,
            sent: Vec::new(),
            replies: BTreeMap::new(),
            partials: BTreeMap::new(),
            gaps: 0,
        })
        .collect();
    // The agent: each turn streams its words over time; the reply is a function of the message.
    let mut running: Vec<(TurnId, Vec<String>)> = Vec::new();
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    let mut now = 0u64;
    let mut to_send = 5usize; // messages per device

    for step in 0..6000 {
        now += 1 + rng.below(3);
        let quiet = step > 5000;
        // Devices act.
        for (i, d) in devices.iter_mut().enumerate() {
            if let Some(at) = d.client.poll_timeout() {
                if at <= now {
                    d.client.handle_timeout(now);
                }
            }
            while let Some(event) = d.client.poll_event() {
                match event {
                    ClientEvent::Reconnect { .. } => {
                        let id = server.handle_connect(now, &d.client.connect_query());
                        d.conn = Some(id);
                        d.client.handle_open(now);
                    }
                    ClientEvent::Partial {
                        message_id,
                        text,
                        session_key,
                    } => {
                        assert!(
                            session_key.is_some(),
                            "seed {seed}: v2 partial without session"
                        );
                        let previous = d
                            .partials
                            .insert(message_id.clone(), text.clone())
                            .unwrap_or_default();
                        assert!(
                            text.starts_with(&previous) || text.len() < previous.len(),
                            "seed {seed}: device {i}: partial text went backwards for {message_id}"
                        );
                    }
                    ClientEvent::Reply {
                        message_id,
                        text,
                        session_key,
                        ..
                    } => {
                        assert!(
                            session_key.is_some(),
                            "seed {seed}: v2 reply without session"
                        );
                        d.replies.entry(message_id).or_default().push(text);
                    }
                    ClientEvent::ResumeGap { .. } => d.gaps += 1,
                    ClientEvent::Error { code, message, .. } => {
                        panic!("seed {seed}: device {i}: unexpected error {code:?}: {message}")
                    }
                    _ => {}
                }
            }
            if !quiet && d.sent.len() < to_send && rng.chance(3) {
                let id = d
                    .client
                    .send(
                        now,
                        &SendOptions {
                            content: format!("message {} from {i}", d.sent.len()),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                d.sent.push(id);
            }
            if let Some(conn) = d.conn {
                while let Some(frame) = d.client.poll_transmit() {
                    server.handle_text(now, conn, frame.as_bytes()).unwrap();
                }
                // The network drops this socket now and then.
                if !quiet && rng.chance(2) {
                    server.handle_disconnect(now, conn).unwrap();
                    d.conn = None;
                    d.client.handle_close(now, 1006);
                    stats.drops += 1;
                }
            }
        }
        // The agent produces output.
        running.retain_mut(|(turn, words)| {
            if !rng.chance(30) {
                return true;
            }
            if words.is_empty() {
                server.handle_agent_final(now, *turn, None).unwrap();
                false
            } else {
                let word = words.remove(0);
                server.handle_agent_delta(now, *turn, &word).unwrap();
                true
            }
        });
        // Deliver the server's output.
        while let Some(t) = server.poll_transmit() {
            let Some(d) = devices.iter_mut().find(|d| d.conn == Some(t.connection)) else {
                panic!("seed {seed}: transmit to a connection no device holds");
            };
            match t.payload {
                Payload::Text(text) => {
                    if text.starts_with(r#"{"type":"chat.resumed""#) {
                        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                        stats.replayed += v["replayed"].as_u64().unwrap();
                    }
                    d.client.handle_frame(now, &text).unwrap()
                }
                Payload::Close { code, .. } => {
                    d.conn = None;
                    d.client.handle_close(now, code);
                }
            }
        }
        while let Some(event) = server.poll_event() {
            if let Event::RunTurn(turn) = event {
                *runs.entry(turn.message_id().to_owned()).or_default() += 1;
                let words: Vec<String> =
                    format!("reply to {} ({})", turn.content(), turn.message_id())
                        .split_inclusive(' ')
                        .map(str::to_owned)
                        .collect();
                expected.insert(turn.message_id().to_owned(), words.concat());
                running.push((turn.id(), words));
            }
        }
        if quiet && running.is_empty() && step > 5500 {
            to_send = 0;
        }
    }

    assert!(
        running.is_empty(),
        "seed {seed}: agent still running at the end"
    );
    for (message, count) in &runs {
        assert_eq!(
            *count, 1,
            "seed {seed}: message {message} ran {count} times"
        );
    }
    for (i, d) in devices.iter().enumerate() {
        assert!(
            d.conn.is_some(),
            "seed {seed}: device {i} ended disconnected"
        );
        stats.gaps += d.gaps;
        if d.gaps > 0 {
            continue; // told explicitly that frames were lost
        }
        let got: Vec<&String> = d.replies.keys().collect();
        let mut want: Vec<&String> = d.sent.iter().collect();
        want.sort();
        assert_eq!(
            got, want,
            "seed {seed}: device {i} got replies to different messages"
        );
        for id in &d.sent {
            let texts = &d.replies[id];
            assert_eq!(
                texts.len(),
                1,
                "seed {seed}: device {i}: reply to {id} delivered {} times",
                texts.len()
            );
            assert_eq!(
                &texts[0], &expected[id],
                "seed {seed}: device {i}: wrong reply text for {id}"
            );
        }
    }
    stats
}

#[test]
fn a_tiny_replay_buffer_reports_gaps_instead_of_losing_silently() {
    // With 3 frames of replay, drops lose frames: each device must either get every reply or be
    // told of the gap (ResumeGap). `run_resume_simulation` accepts only those two outcomes.
    let gaps: usize = (20..=24u64)
        .map(|seed| run_resume_simulation(seed, 3).gaps)
        .sum();
    assert!(
        gaps > 0,
        "a 3-frame buffer should have produced at least one gap"
    );
}
