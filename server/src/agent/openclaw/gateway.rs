//! One WebSocket to the OpenClaw gateway, shared by every clawsocket session: the handshake,
//! request ids with per-request timeouts, `chat` events routed to the turn that waits for
//! them, the tick watchdog, and reconnects with backoff (1 s doubling to 30 s).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::device::Device;
use super::handshake::{self, Challenge, ConnectError, Hello};
use super::secret;
use crate::settings::OpenClawSettings;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Close code for a link that went silent for two tick intervals.
pub const CLOSE_TICK_TIMEOUT: u16 = 4000;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The state of the shared link, as turns see it.
#[derive(Clone)]
enum Link {
    /// Not connected; the text says why (none before the first attempt ends).
    Down(Option<Arc<str>>),
    /// The gateway refused the last attempt (secret, signature, approval): only an operator
    /// can fix that, so turns fail at once with the reason instead of waiting.
    Refused(Arc<str>),
    /// Connected and past the handshake.
    Up(Arc<Connection>),
}

/// The gateway as the agent sees it. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("url", &self.shared.settings.url)
            .finish_non_exhaustive()
    }
}

struct Shared {
    settings: OpenClawSettings,
    device: Mutex<Device>,
    link: watch::Sender<Link>,
    started: AtomicBool,
    /// Turns waiting for the link: while there are any, retries come every second.
    waiting: AtomicUsize,
    /// Wakes the reconnect loop when a turn starts waiting.
    nudge: Notify,
}

/// Counts a waiting turn for as long as it waits.
struct Waiting<'a>(&'a Shared);

impl<'a> Waiting<'a> {
    fn new(shared: &'a Shared) -> Waiting<'a> {
        shared.waiting.fetch_add(1, Ordering::SeqCst);
        shared.nudge.notify_one();
        Waiting(shared)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gateway {
    /// Loads (or creates) the device identity; the connection starts with the first use.
    pub fn new(settings: OpenClawSettings) -> Result<Gateway, String> {
        let device = Device::load_or_create(&settings.device_key_file)
            .map_err(|e| format!("agent.openclaw.deviceKeyFile: {e}"))?;
        let (link, _) = watch::channel(Link::Down(None));
        Ok(Gateway {
            shared: Arc::new(Shared {
                settings,
                device: Mutex::new(device),
                link,
                started: AtomicBool::new(false),
                waiting: AtomicUsize::new(0),
                nudge: Notify::new(),
            }),
        })
    }

    /// Starts the connection task once, when a runtime is there to run it.
    pub fn start(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if !self.shared.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(supervise(self.shared.clone()));
        }
    }

    /// The live connection, waiting up to `reconnectWaitMs` for one.
    pub async fn connection(&self) -> Result<Arc<Connection>, String> {
        self.start();
        let wait = Duration::from_millis(self.shared.settings.reconnect_wait_ms);
        let mut link = self.shared.link.subscribe();
        let settled = |l: &Link| matches!(l, Link::Up(_) | Link::Refused(_));
        let _waiting = (!settled(&link.borrow())).then(|| Waiting::new(&self.shared));
        let up = tokio::time::timeout(wait, link.wait_for(settled)).await;
        if let Ok(Ok(link)) = &up {
            if let Link::Up(connection) = &**link {
                return Ok(connection.clone());
            }
        }
        drop(up);
        let why = match &*link.borrow() {
            Link::Down(Some(why)) | Link::Refused(why) => why.to_string(),
            _ => format!(
                "no connection to the OpenClaw gateway at {} yet",
                self.shared.settings.url
            ),
        };
        Err(format!("OpenClaw gateway unavailable: {why}"))
    }
}

/// Connects, serves, and reconnects for as long as the server runs.
async fn supervise(shared: Arc<Shared>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match connect(&shared).await {
            Ok((socket, hello)) => {
                tracing::info!(
                    url = %shared.settings.url,
                    protocol = hello.protocol,
                    gateway_version = hello.server_version.as_deref().unwrap_or("?"),
                    "connected to the OpenClaw gateway"
                );
                backoff = FIRST_BACKOFF;
                let (connection, queue) = Connection::new(
                    hello.protocol,
                    hello.max_payload,
                    Duration::from_millis(shared.settings.request_timeout_ms),
                );
                shared.link.send_replace(Link::Up(connection.clone()));
                let tick = Duration::from_millis(hello.tick_interval_ms);
                let why = serve(socket, &connection, queue, tick).await;
                tracing::warn!(reason = %why, "OpenClaw gateway connection lost; reconnecting");
                shared.link.send_replace(Link::Down(Some(
                    format!(
                        "the connection to the OpenClaw gateway was lost ({why}); reconnecting"
                    )
                    .into(),
                )));
                // Running turns and waiting requests learn it here: their channels close.
                connection.fail_all();
            }
            Err(ConnectError::Unavailable {
                message,
                retry_after_ms,
            }) => {
                // Starting or restarting: not a failure, so the backoff does not grow.
                tracing::info!(%message, retry_after_ms, "OpenClaw gateway not ready yet");
                shared.link.send_replace(Link::Down(Some(
                    format!("the OpenClaw gateway is not ready yet: {message}").into(),
                )));
                let wait = Duration::from_millis(retry_after_ms.clamp(100, 30_000));
                tokio::time::sleep(wait).await;
                continue;
            }
            Err(e) => {
                let why: Arc<str> = e.to_string().into();
                // State first, then the log: whoever reads the log finds turns failing with it.
                shared.link.send_replace(match &e {
                    ConnectError::Transport(_) => Link::Down(Some(why)),
                    _ => Link::Refused(why),
                });
                match &e {
                    ConnectError::ApprovalNeeded { .. } => tracing::error!("{e}"),
                    _ => tracing::warn!(url = %shared.settings.url, "{e}"),
                }
            }
        }
        pause(&shared, backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Waits `backoff` before the next attempt, or only the first backoff while turns wait for
/// the link: an idle bridge backs off to 30 s, a bridge with users retries every second.
async fn pause(shared: &Shared, backoff: Duration) {
    let failed_at = Instant::now();
    loop {
        let delay = if shared.waiting.load(Ordering::SeqCst) > 0 {
            FIRST_BACKOFF.min(backoff)
        } else {
            backoff
        };
        tokio::select! {
            _ = tokio::time::sleep_until(failed_at + delay) => return,
            _ = shared.nudge.notified() => {}
        }
    }
}

/// Opens the socket and completes the signed handshake.
async fn connect(shared: &Shared) -> Result<(Socket, Hello), ConnectError> {
    let settings = &shared.settings;
    let deadline = Duration::from_millis(settings.request_timeout_ms);
    let credentials = secret::read(settings.secret.as_ref())
        .map_err(|e| ConnectError::Protocol(format!("agent.openclaw secret: {e}")))?;
    let (mut socket, _) = tokio::time::timeout(
        deadline,
        tokio_tungstenite::connect_async(settings.url.as_str()),
    )
    .await
    .map_err(|_| ConnectError::Transport("connect timed out".into()))?
    .map_err(|e| ConnectError::Transport(e.to_string()))?;
    let device_id = shared.device.lock().unwrap_or_else(|p| p.into_inner()).id();
    let handshake = async {
        let challenge = loop {
            let frame = next_json(&mut socket, &device_id).await?;
            if let Some(challenge) = Challenge::from_frame(&frame) {
                break challenge;
            }
        };
        let params = {
            let device = shared.device.lock().unwrap_or_else(|p| p.into_inner());
            handshake::connect_params(&challenge, &device, &credentials)
        };
        let request =
            json!({"type": "req", "id": "connect", "method": "connect", "params": params});
        socket
            .send(Message::text(request.to_string()))
            .await
            .map_err(|e| ConnectError::Transport(e.to_string()))?;
        loop {
            let frame = next_json(&mut socket, &device_id).await?;
            if frame["type"] != "res" || frame["id"] != "connect" {
                continue;
            }
            if frame["ok"] != true {
                return Err(ConnectError::from_error(&frame["error"], &device_id));
            }
            return Hello::from_payload(&frame["payload"]);
        }
    };
    let hello = tokio::time::timeout(deadline, handshake)
        .await
        .map_err(|_| {
            ConnectError::Transport("the gateway did not complete the handshake in time".into())
        })??;
    if let Some(token) = &hello.device_token {
        let mut device = shared.device.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = device.remember_token(token) {
            tracing::warn!(error = %e, "could not store the OpenClaw device token");
        }
    }
    Ok((socket, hello))
}

/// The next JSON text frame during the handshake.
async fn next_json(socket: &mut Socket, device_id: &str) -> Result<Value, ConnectError> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                if let Ok(value) = serde_json::from_str::<Value>(text.as_str()) {
                    return Ok(value);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                return Err(ConnectError::from_close(code, &reason, device_id));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(ConnectError::Transport(e.to_string())),
            None => {
                return Err(ConnectError::Transport(
                    "the gateway closed the socket".into(),
                ))
            }
        }
    }
}

/// Reads and writes until the link ends; returns why.
async fn serve(
    mut socket: Socket,
    connection: &Connection,
    mut queue: mpsc::UnboundedReceiver<String>,
    tick: Duration,
) -> String {
    let silence = tick * 2;
    let mut deadline = Instant::now() + silence;
    loop {
        tokio::select! {
            frame = socket.next() => {
                deadline = Instant::now() + silence;
                match frame {
                    Some(Ok(Message::Text(text))) => connection.dispatch(text.as_str()),
                    Some(Ok(Message::Close(frame))) => {
                        return match frame {
                            Some(f) => format!("closed by the gateway: {} {}", u16::from(f.code), f.reason),
                            None => "closed by the gateway".to_owned(),
                        };
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return e.to_string(),
                    None => return "the socket closed".to_owned(),
                }
            }
            Some(text) = queue.recv() => {
                if let Err(e) = socket.send(Message::text(text)).await {
                    return e.to_string();
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                let close = CloseFrame {
                    code: CloseCode::from(CLOSE_TICK_TIMEOUT),
                    reason: "tick timeout".into(),
                };
                let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(Some(close))).await;
                return format!("no frame for {} ms (two tick intervals)", silence.as_millis());
            }
        }
    }
}

/// A connected, handshaken link.
pub struct Connection {
    outbound: mpsc::UnboundedSender<String>,
    pending: Mutex<HashMap<String, oneshot::Sender<Result<Value, String>>>>,
    chats: Mutex<HashMap<String, (u64, mpsc::UnboundedSender<Value>)>>,
    next_id: AtomicU64,
    /// The negotiated protocol (3: no `deltaText`).
    pub protocol: u64,
    /// The gateway's frame limit.
    pub max_payload: Option<u64>,
    request_timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection after a successful handshake, and the queue of frames it sends.
    fn new(
        protocol: u64,
        max_payload: Option<u64>,
        request_timeout: Duration,
    ) -> (Arc<Connection>, mpsc::UnboundedReceiver<String>) {
        let (outbound, queue) = mpsc::unbounded_channel();
        let connection = Arc::new(Connection {
            outbound,
            pending: Mutex::new(HashMap::new()),
            chats: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            protocol,
            max_payload,
            request_timeout,
        });
        (connection, queue)
    }

    /// Sends a request and waits for its response payload, or says why there is none.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, String> {
        let answered = self.enqueue(method, params)?;
        self.answer(method, answered).await
    }

    /// Queues a request frame now; the answer arrives on the returned channel.
    fn enqueue(&self, method: &str, params: Value) -> Result<Answer, String> {
        let id = format!("cs-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (answer, answered) = oneshot::channel();
        lock(&self.pending).insert(id.clone(), answer);
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        if self.outbound.send(frame.to_string()).is_err() {
            lock(&self.pending).remove(&id);
            return Err("the connection to the OpenClaw gateway was lost".into());
        }
        Ok(Answer { id, answered })
    }

    async fn answer(&self, method: &str, answer: Answer) -> Result<Value, String> {
        match tokio::time::timeout(self.request_timeout, answer.answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(format!(
                "the connection to the OpenClaw gateway was lost before it answered {method}"
            )),
            Err(_) => {
                lock(&self.pending).remove(&answer.id);
                Err(format!(
                    "the OpenClaw gateway did not answer {method} within {} ms",
                    self.request_timeout.as_millis()
                ))
            }
        }
    }

    /// Queues a request at once (so it goes out before anything sent later, such as the
    /// next turn's `chat.send` after a `chat.abort`) and only logs its failure.
    pub fn notify(self: &Arc<Self>, method: &'static str, params: Value) {
        let answered = match self.enqueue(method, params) {
            Ok(answered) => answered,
            Err(e) => return tracing::warn!(error = %e, "{method} failed"),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let connection = self.clone();
            tokio::spawn(async move {
                if let Err(e) = connection.answer(method, answered).await {
                    tracing::warn!(error = %e, "{method} failed");
                }
            });
        }
    }

    /// `chat` events of one run: those naming `run_id` (OpenClaw uses the idempotency key as
    /// the run id), or else the session key. Ends when dropped or when the link drops.
    pub fn watch_run(self: &Arc<Self>, run_id: &str, session_key: &str) -> ChatEvents {
        let keys = [
            format!("run:{run_id}"),
            format!("key:{}", session_key.to_lowercase()),
        ];
        let (sender, receiver) = mpsc::unbounded_channel();
        let watch = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut chats = lock(&self.chats);
        for key in &keys {
            chats.insert(key.clone(), (watch, sender.clone()));
        }
        ChatEvents {
            connection: self.clone(),
            keys,
            watch,
            receiver,
        }
    }

    fn dispatch(&self, text: &str) {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            tracing::debug!("ignoring a gateway frame that is not JSON");
            return;
        };
        match frame["type"].as_str() {
            Some("res") => {
                let Some(id) = frame["id"].as_str() else {
                    return;
                };
                let Some(answer) = lock(&self.pending).remove(id) else {
                    return;
                };
                let result = if frame["ok"] == true {
                    Ok(frame["payload"].clone())
                } else {
                    let e = &frame["error"];
                    Err(format!(
                        "the OpenClaw gateway refused the request: {}: {}",
                        e["code"].as_str().unwrap_or("error"),
                        e["message"].as_str().unwrap_or("")
                    ))
                };
                let _ = answer.send(result);
            }
            Some("event") if frame["event"] == "chat" => {
                let payload = &frame["payload"];
                let by_run = payload["runId"].as_str().map(|r| format!("run:{r}"));
                let by_key = payload["sessionKey"]
                    .as_str()
                    .map(|k| format!("key:{}", k.to_lowercase()));
                let chats = lock(&self.chats);
                let watcher = by_run
                    .and_then(|k| chats.get(&k))
                    .or_else(|| by_key.and_then(|k| chats.get(&k)));
                if let Some((_, sender)) = watcher {
                    let _ = sender.send(payload.clone());
                }
            }
            // `tick` only feeds the watchdog; `agent` events duplicate what `chat` carries.
            _ => {}
        }
    }

    /// The link is gone: every waiter's channel closes.
    fn fail_all(&self) {
        lock(&self.pending).clear();
        lock(&self.chats).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A turn's view of its session's `chat` events.
#[derive(Debug)]
pub struct ChatEvents {
    connection: Arc<Connection>,
    keys: [String; 2],
    watch: u64,
    receiver: mpsc::UnboundedReceiver<Value>,
}

/// A queued request's pending answer.
struct Answer {
    id: String,
    answered: oneshot::Receiver<Result<Value, String>>,
}

impl ChatEvents {
    /// The next event payload; `None` when the gateway link dropped.
    pub async fn next(&mut self) -> Option<Value> {
        self.receiver.recv().await
    }
}

impl Drop for ChatEvents {
    fn drop(&mut self) {
        let mut chats = lock(&self.connection.chats);
        for key in &self.keys {
            // A later turn of the same session may have replaced this watch already.
            if chats.get(key).is_some_and(|(w, _)| *w == self.watch) {
                chats.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> (Arc<Connection>, mpsc::UnboundedReceiver<String>) {
        Connection::new(4, None, Duration::from_secs(1))
    }

    fn chat(run: &str, key: &str) -> String {
        json!({"type": "event", "event": "chat",
            "payload": {"runId": run, "sessionKey": key, "state": "delta"}})
        .to_string()
    }

    #[tokio::test]
    async fn events_reach_their_run_by_run_id_then_by_session_key() {
        let (connection, _queue) = connection();
        let mut events = connection.watch_run("m1", "agent:main:websocket:direct:a");
        // The gateway reports its canonical key; the run id still finds the turn.
        connection.dispatch(&chat("m1", "agent:main:something-else"));
        assert_eq!(events.next().await.unwrap()["runId"], "m1");
        connection.dispatch(&chat("other", "agent:main:websocket:direct:a"));
        assert_eq!(events.next().await.unwrap()["runId"], "other");
        connection.dispatch(&chat("other", "agent:main:websocket:direct:b"));
        drop(events);
        assert!(lock(&connection.chats).is_empty());
    }

    #[tokio::test]
    async fn a_notify_is_queued_before_later_requests_and_a_drop_fails_waiters() {
        let (connection, mut queue) = connection();
        connection.notify("chat.abort", json!({"sessionKey": "k"}));
        let later = connection.clone();
        let send = tokio::spawn(async move { later.request("chat.send", json!({})).await });
        let first: Value = serde_json::from_str(&queue.recv().await.unwrap()).unwrap();
        assert_eq!(first["method"], "chat.abort");
        let second: Value = serde_json::from_str(&queue.recv().await.unwrap()).unwrap();
        assert_eq!(second["method"], "chat.send");
        connection.fail_all();
        let error = send.await.unwrap().unwrap_err();
        assert!(
            error.contains("lost before it answered chat.send"),
            "{error}"
        );
    }
}
