//! A fake OpenClaw gateway for the `openclaw` backend's tests: a real WebSocket server on
//! 127.0.0.1 speaking the gateway protocol as the real one does (challenge, signed `connect`
//! verified with the device's public key, `hello-ok` with a policy, ticks, `chat.send` /
//! `chat.abort` / `chat.history`, `chat` events in protocol 3 or 4). What a turn does is chosen
//! by a word in its message, so a test can provoke what a real gateway only does by accident.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// How the gateway behaves; change it between connections.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// The only protocol it speaks (3: no `deltaText`).
    pub protocol: u64,
    /// `policy.tickIntervalMs`.
    pub tick_ms: u64,
    /// The shared token a client must present.
    pub token: String,
    /// Answer every connect with "pairing required".
    pub approval_needed: bool,
    /// Verify signatures against a different nonce than the one sent (so they fail).
    pub check_wrong_nonce: bool,
    /// Refuse this many connects with `UNAVAILABLE` (gateway starting) first.
    pub unavailable_connects: u32,
    /// The device token `hello-ok` hands out.
    pub device_token: Option<String>,
    /// Close every TCP connection at once (a gateway that is down).
    pub reject_tcp: bool,
    /// After the next handshake, resume a run of its own on this session key, as the real
    /// gateway's restart recovery does.
    pub recover_session: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            protocol: 4,
            tick_ms: 2000,
            token: "gateway-secret".into(),
            approval_needed: false,
            check_wrong_nonce: false,
            unavailable_connects: 0,
            device_token: Some("device-token-1".into()),
            reject_tcp: false,
            recover_session: None,
        }
    }
}

/// What the gateway saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every `connect` request's params.
    pub connects: Vec<Value>,
    /// Device ids whose signature verified.
    pub verified_devices: Vec<String>,
    /// Handshakes completed.
    pub accepted: usize,
    /// Every `chat.send` params.
    pub sends: Vec<Value>,
    /// Runs a `chat.send` with `queueMode: interrupt` aborted.
    pub interrupted: Vec<String>,
    /// Every `chat.abort` params.
    pub aborts: Vec<Value>,
    /// Every `chat.history` params.
    pub history_requests: Vec<Value>,
    /// TCP connections closed at once (`reject_tcp`).
    pub tcp_rejected: usize,
    /// Close codes clients sent.
    pub client_close_codes: Vec<u16>,
    /// Transcript per session key.
    pub transcripts: HashMap<String, Vec<Value>>,
}

/// A running fake gateway.
pub struct FakeGateway {
    pub addr: SocketAddr,
    pub behaviour: Arc<Mutex<Behaviour>>,
    pub seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGateway {
    pub async fn start(behaviour: Behaviour) -> FakeGateway {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let behaviour = Arc::new(Mutex::new(behaviour));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (b, s) = (behaviour.clone(), seen.clone());
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            while let Ok((tcp, _)) = listener.accept().await {
                n += 1;
                if b.lock().unwrap().reject_tcp {
                    s.lock().unwrap().tcp_rejected += 1;
                    drop(tcp);
                    continue;
                }
                let (b, s) = (b.clone(), s.clone());
                tokio::spawn(async move {
                    if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                        serve(ws, n, b, s).await;
                    }
                });
            }
        });
        FakeGateway {
            addr,
            behaviour,
            seen,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap())
    }

    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.behaviour.lock().unwrap())
    }

    /// Waits (up to 15 s) until `f` holds.
    pub async fn wait_for(&self, what: &str, f: impl Fn(&Seen) -> bool) {
        for _ in 0..300 {
            if self.seen(&f) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "fake gateway: {what} did not happen; saw {:?}",
            self.seen.lock().unwrap()
        );
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// What a run task asks the connection to do.
enum Command {
    Send(Value),
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Stop sending anything, ticks included.
    Silence,
    /// A run ended.
    Finished(String),
}

/// Tells the connection a run ended, however it ends.
struct Finished(mpsc::UnboundedSender<Command>, String);

impl Drop for Finished {
    fn drop(&mut self) {
        let _ = self.0.send(Command::Finished(self.1.clone()));
    }
}

fn event(name: &str, payload: Value) -> Value {
    json!({"type": "event", "event": name, "payload": payload})
}

/// The v3 string the device must have signed.
fn signed_string(p: &Value, nonce: &str) -> String {
    let lower = |v: &Value| v.as_str().unwrap_or("").trim().to_lowercase();
    let scopes: Vec<&str> = p["scopes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "v3|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        p["device"]["id"].as_str().unwrap_or(""),
        p["client"]["id"].as_str().unwrap_or(""),
        p["client"]["mode"].as_str().unwrap_or(""),
        p["role"].as_str().unwrap_or(""),
        scopes.join(","),
        p["device"]["signedAt"].as_u64().unwrap_or(0),
        p["auth"]["token"].as_str().unwrap_or(""),
        nonce,
        lower(&p["client"]["platform"]),
        lower(&p["client"]["deviceFamily"]),
    )
}

/// Checks the device block the way the gateway does; returns the device id.
fn verify_device(
    p: &Value,
    nonce: &str,
    ts: u64,
    signed_nonce: &str,
) -> Result<String, &'static str> {
    let device = &p["device"];
    let key = device["publicKey"]
        .as_str()
        .and_then(|k| URL_SAFE_NO_PAD.decode(k).ok())
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
        .ok_or("device public key invalid")?;
    let id: String = Sha256::digest(key)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if device["id"] != id.as_str() {
        return Err("device id mismatch");
    }
    if device["nonce"] != nonce || device["signedAt"].as_u64() != Some(ts) {
        return Err("device nonce or signedAt mismatch");
    }
    let signature = device["signature"]
        .as_str()
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or("device signature invalid")?;
    VerifyingKey::from_bytes(&key)
        .map_err(|_| "device public key invalid")?
        .verify(signed_string(p, signed_nonce).as_bytes(), &signature)
        .map_err(|_| "device signature invalid")?;
    Ok(id)
}

async fn refuse(ws: &mut Ws, id: &Value, error: Value, close: u16, reason: &str) {
    let _ = ws
        .send(Message::text(
            json!({"type": "res", "id": id, "ok": false, "error": error}).to_string(),
        ))
        .await;
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::from(close),
            reason: reason.to_owned().into(),
        }))
        .await;
}

async fn serve(mut ws: Ws, n: u64, behaviour: Arc<Mutex<Behaviour>>, seen: Arc<Mutex<Seen>>) {
    let nonce = format!("nonce-{n}");
    let ts = 1_795_000_000_000 + n;
    let challenge = event(
        "connect.challenge",
        json!({"nonce": nonce, "ts": ts, "capabilities": []}),
    );
    if ws.send(Message::text(challenge.to_string())).await.is_err() {
        return;
    }
    let (id, params) = loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let f: Value = serde_json::from_str(t.as_str()).unwrap();
                if f["type"] == "req" && f["method"] == "connect" {
                    break (f["id"].clone(), f["params"].clone());
                }
            }
            Some(Ok(_)) => {}
            _ => return,
        }
    };
    seen.lock().unwrap().connects.push(params.clone());
    let b = behaviour.lock().unwrap().clone();
    if b.unavailable_connects > 0 {
        behaviour.lock().unwrap().unavailable_connects -= 1;
        let e = json!({"code": "UNAVAILABLE", "message": "gateway starting; retry shortly",
            "retryable": true, "retryAfterMs": 200, "details": {"reason": "startup-sidecars"}});
        return refuse(&mut ws, &id, e, 1013, "gateway starting").await;
    }
    let (min, max) = (
        params["minProtocol"].as_u64(),
        params["maxProtocol"].as_u64(),
    );
    if !(min.unwrap_or(99) <= b.protocol && b.protocol <= max.unwrap_or(0)) {
        let e = json!({"code": "INVALID_REQUEST", "message": "protocol mismatch"});
        return refuse(&mut ws, &id, e, 1002, "protocol mismatch").await;
    }
    let checked_nonce = if b.check_wrong_nonce {
        "another-nonce"
    } else {
        nonce.as_str()
    };
    let device_id = match verify_device(&params, &nonce, ts, checked_nonce) {
        Ok(device_id) => device_id,
        Err(why) => {
            let e = json!({"code": "INVALID_REQUEST", "message": why,
                "details": {"code": "DEVICE_AUTH_SIGNATURE_INVALID", "reason": "device-signature"}});
            return refuse(&mut ws, &id, e, 1008, why).await;
        }
    };
    seen.lock().unwrap().verified_devices.push(device_id);
    let token = params["auth"]["token"].as_str().unwrap_or("");
    if token != b.token && Some(token) != b.device_token.as_deref() {
        let e =
            json!({"code": "INVALID_REQUEST", "message": "unauthorized: gateway token mismatch"});
        return refuse(&mut ws, &id, e, 1008, "unauthorized").await;
    }
    if b.approval_needed {
        let e = json!({"code": "NOT_PAIRED", "message": "pairing required",
            "details": {"requestId": "req-7"}});
        return refuse(&mut ws, &id, e, 1008, "pairing required").await;
    }
    let mut auth = json!({"method": "token", "role": "operator",
        "scopes": ["operator.read", "operator.write"]});
    if let Some(t) = &b.device_token {
        auth["deviceToken"] = json!(t);
    }
    let hello = json!({"type": "res", "id": id, "ok": true, "payload": {
        "type": "hello-ok", "protocol": b.protocol,
        "server": {"version": "fake-2026.9.6", "connId": format!("conn-{n}")},
        "features": {"methods": ["chat.send", "chat.abort", "chat.history"], "events": ["chat", "tick"]},
        "auth": auth,
        "policy": {"maxPayload": 26_214_400u64, "maxBufferedBytes": 52_428_800u64, "tickIntervalMs": b.tick_ms}}});
    if ws.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    seen.lock().unwrap().accepted += 1;
    let recover = behaviour.lock().unwrap().recover_session.take();
    connected(ws, b, seen, recover).await;
}

/// After the handshake: requests, runs, ticks.
async fn connected(mut ws: Ws, b: Behaviour, seen: Arc<Mutex<Seen>>, recover: Option<String>) {
    let (commands, mut queue) = mpsc::unbounded_channel::<Command>();
    let mut tick = tokio::time::interval(Duration::from_millis(b.tick_ms));
    let mut silent = false;
    let mut seq = 0u64;
    // Active runs: run id -> (session key, abort switch).
    let mut aborters: HashMap<String, (String, tokio::sync::oneshot::Sender<()>)> = HashMap::new();
    let mut done: HashSet<String> = HashSet::new();
    if let Some(key) = recover {
        let params = json!({"sessionKey": key, "idempotencyKey": "recovered-1",
            "message": "slow (resumed by the gateway)"});
        let (abort, aborted) = tokio::sync::oneshot::channel();
        aborters.insert("recovered-1".into(), (key, abort));
        tokio::spawn(run(
            params,
            b.protocol,
            commands.clone(),
            aborted,
            seen.clone(),
        ));
    }
    loop {
        let mut out: Vec<Value> = Vec::new();
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    if silent {
                        continue;
                    }
                    let f: Value = serde_json::from_str(t.as_str()).unwrap();
                    let params = f["params"].clone();
                    let result = match f["method"].as_str().unwrap_or("") {
                        "chat.send" => {
                            seen.lock().unwrap().sends.push(params.clone());
                            let key = params["idempotencyKey"].as_str().unwrap_or("").to_owned();
                            if done.contains(&key) {
                                Some(json!({"runId": key, "status": "ok"}))
                            } else if params["message"].as_str().unwrap_or("").contains("mute") {
                                None
                            } else {
                                done.insert(key.clone());
                                let session = params["sessionKey"].as_str().unwrap_or("").to_owned();
                                let active = aborters
                                    .iter()
                                    .find(|(_, (k, _))| *k == session)
                                    .map(|(run, _)| run.clone());
                                let mut answer = json!({"runId": key, "status": "started"});
                                let steered = match active {
                                    Some(active) if params["queueMode"] == "interrupt" => {
                                        if let Some((_, abort)) = aborters.remove(&active) {
                                            let _ = abort.send(());
                                        }
                                        seen.lock().unwrap().interrupted.push(active);
                                        answer["interruptedActiveRun"] = json!(true);
                                        false
                                    }
                                    Some(_) => true,
                                    None => false,
                                };
                                if steered {
                                    // Steered into the active run: this run id only gets a bare
                                    // final (queued, so it follows the response).
                                    let _ = commands.send(Command::Send(event("chat",
                                        json!({"runId": key, "sessionKey": session, "seq": 1, "state": "final"}))));
                                } else {
                                let (abort, aborted) = tokio::sync::oneshot::channel();
                                aborters.insert(key.clone(), (session, abort));
                                tokio::spawn(run(params, b.protocol, commands.clone(), aborted, seen.clone()));
                                }
                                Some(answer)
                            }
                        }
                        "chat.abort" => {
                            seen.lock().unwrap().aborts.push(params.clone());
                            let run = params["runId"].as_str().unwrap_or("").to_owned();
                            let aborted = aborters.remove(&run).map(|(_, a)| a.send(()).is_ok()).unwrap_or(false);
                            // Let the run's `aborted` event go out before this answer, as the real one does.
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            Some(json!({"ok": true, "aborted": aborted, "runIds": [run]}))
                        }
                        "chat.history" => {
                            seen.lock().unwrap().history_requests.push(params.clone());
                            let key = params["sessionKey"].as_str().unwrap_or("");
                            let messages = seen.lock().unwrap().transcripts.get(key).cloned().unwrap_or_default();
                            Some(json!({"sessionKey": key, "messages": messages, "hasMore": false,
                                "totalMessages": messages.len()}))
                        }
                        _ => Some(json!({})),
                    };
                    if let Some(payload) = result {
                        out.push(json!({"type": "res", "id": f["id"], "ok": true, "payload": payload}));
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    if let Some(frame) = frame {
                        seen.lock().unwrap().client_close_codes.push(u16::from(frame.code));
                    }
                    return;
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            command = queue.recv() => match command {
                Some(Command::Send(frame)) if !silent => out.push(frame),
                Some(Command::Send(_)) => {}
                Some(Command::Drop) => return,
                Some(Command::Silence) => silent = true,
                Some(Command::Finished(run)) => {
                    aborters.remove(&run);
                }
                None => {}
            },
            _ = tick.tick() => {
                if !silent {
                    out.push(event("tick", json!({"ts": 0})));
                }
            }
        }
        for mut frame in out {
            if frame["type"] == "event" {
                seq += 1;
                frame["seq"] = json!(seq);
            }
            if ws.send(Message::text(frame.to_string())).await.is_err() {
                return;
            }
        }
    }
}

/// One run, scripted by a word in the message.
async fn run(
    params: Value,
    protocol: u64,
    commands: mpsc::UnboundedSender<Command>,
    mut aborted: tokio::sync::oneshot::Receiver<()>,
    seen: Arc<Mutex<Seen>>,
) {
    let key = params["sessionKey"].as_str().unwrap_or("").to_owned();
    let run_id = params["idempotencyKey"].as_str().unwrap_or("").to_owned();
    let message = params["message"].as_str().unwrap_or("").to_owned();
    let _finished = Finished(commands.clone(), run_id.clone());
    seen.lock()
        .unwrap()
        .transcripts
        .entry(key.clone())
        .or_default()
        .push(json!({
        "role": "user", "content": message, "timestamp": 1_795_000_000_100u64,
        "idempotencyKey": format!("{run_id}:user"), "__openclaw": {"id": format!("u-{run_id}")}}));
    let mut n = 0u64;
    let chat = |state: &str, extra: Value, n: &mut u64| {
        *n += 1;
        let mut payload = json!({"runId": run_id, "sessionKey": key, "agentId": "main", "seq": *n, "state": state});
        if let (Some(p), Value::Object(e)) = (payload.as_object_mut(), extra) {
            p.extend(e);
        }
        event("chat", payload)
    };
    let text_message = |t: &str| json!({"role": "assistant", "content": [{"type": "text", "text": t}], "timestamp": 1});
    let send = |frame: Value| {
        let _ = commands.send(Command::Send(frame));
    };
    let pause = || tokio::time::sleep(Duration::from_millis(30));
    send(chat(
        "status",
        json!({"phase": "preparing_context"}),
        &mut n,
    ));
    let mut text = String::new();
    let delta = |piece: &str, text: &mut String, n: &mut u64| {
        text.push_str(piece);
        let mut extra = json!({"message": text_message(text)});
        if protocol >= 4 {
            extra["deltaText"] = json!(piece);
        }
        send(chat("delta", extra, n));
    };
    let final_text;
    if let Some(kind) = message.split("fail:").nth(1) {
        let kind = kind.split_whitespace().next().unwrap_or("unknown");
        send(chat(
            "error",
            json!({"errorKind": kind, "errorMessage": format!("boom ({kind})"),
                "errorDetail": {"failoverReason": kind}}),
            &mut n,
        ));
        // The real gateway follows with a second, kind-less error for the same run.
        send(event(
            "chat",
            json!({"runId": run_id, "sessionKey": key, "seq": 1, "state": "error",
                "errorMessage": "a second error for the same run"}),
        ));
        return;
    } else if message.contains("stopped elsewhere") {
        // An operator aborts the run on the gateway: partial text, then `aborted`.
        delta("Half an ans", &mut text, &mut n);
        pause().await;
        send(chat(
            "aborted",
            json!({"stopReason": "user", "message": text_message(&text)}),
            &mut n,
        ));
        return;
    } else if message.contains("rewrite") {
        delta("Draft", &mut text, &mut n);
        pause().await;
        let mut extra = json!({"message": text_message("Final answer")});
        if protocol >= 4 {
            extra["deltaText"] = json!("Final answer");
            extra["replace"] = json!(true);
        }
        send(chat("delta", extra, &mut n));
        final_text = "Final answer".to_owned();
    } else if message.contains("slow") {
        delta("Working", &mut text, &mut n);
        tokio::select! {
            _ = &mut aborted => {
                send(chat("aborted", json!({"stopReason": "rpc", "message": text_message(&text)}), &mut n));
                return;
            }
            _ = tokio::time::sleep(Duration::from_secs(20)) => {}
        }
        final_text = text.clone();
    } else if message.contains("drop") {
        delta("Partial", &mut text, &mut n);
        pause().await;
        let _ = commands.send(Command::Drop);
        return;
    } else if message.contains("silence") {
        delta("Partial", &mut text, &mut n);
        pause().await;
        let _ = commands.send(Command::Silence);
        return;
    } else {
        for piece in ["Hel", "lo wor", "ld"] {
            delta(piece, &mut text, &mut n);
            pause().await;
        }
        final_text = text.clone();
    }
    seen.lock().unwrap().transcripts.entry(key.clone()).or_default().push(json!({
        "role": "assistant", "content": [{"type": "text", "text": final_text}], "timestamp": 1_795_000_000_200u64,
        "__openclaw": {"runId": run_id, "id": format!("a-{run_id}")}}));
    // The real gateway flushes a last delta before the final.
    send(chat(
        "final",
        json!({"stopReason": "stop", "message": text_message(&final_text)}),
        &mut n,
    ));
}
