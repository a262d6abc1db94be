//! Shared helpers for the end-to-end tests: start the real `clawsocket` binary on an ephemeral
//! port, talk to it with a real WebSocket client, and run small HTTP peers (auth service,
//! OpenAI-style SSE endpoint) on 127.0.0.1.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(15);

/// A running `clawsocket serve`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub banner: Vec<String>,
    pub logs: Arc<Mutex<String>>,
}

/// Config with auth off and a fast builtin agent, merged with `extra` (top-level keys).
pub fn open_config(extra: Value) -> Value {
    let mut base = json!({"auth": {"enabled": false}, "agent": {"builtin": {"delayMs": 5}}});
    merge(&mut base, extra);
    base
}

fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            match (b.get_mut(&k), v) {
                (Some(existing @ Value::Object(_)), v @ Value::Object(_)) => merge(existing, v),
                (_, v) => {
                    b.insert(k, v);
                }
            }
        }
    }
}

impl Server {
    /// Starts the binary with this config (None: no config file at all) in `data_dir`.
    pub fn start_with(config: Option<&Value>, data_dir: &Path, env: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(data_dir).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawsocket"));
        cmd.arg("serve")
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg("0");
        cmd.arg("--data-dir").arg(data_dir);
        if let Some(config) = config {
            let file = data_dir.join("config.json");
            std::fs::write(&file, serde_json::to_string_pretty(config).unwrap()).unwrap();
            cmd.arg("--config").arg(file);
        }
        cmd.env_remove("WS_AUTH_ENABLED")
            .env_remove("WS_AUTH_ENDPOINT")
            .env_remove("CLAWSOCKET_TOKEN");
        cmd.env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = Vec::new();
        let mut addr = None;
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!(
                    "server exited before listening; stderr:\n{}",
                    logs.lock().unwrap()
                );
            }
            let line = line.trim_end().to_owned();
            if let Some(a) = line.strip_prefix("clawsocket: listening on ") {
                addr = Some(a.parse().unwrap());
            }
            let done = line.starts_with("clawsocket: health:");
            banner.push(line);
            if done {
                break;
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink);
        });
        Server {
            child,
            addr: addr.expect("listening line"),
            data_dir: data_dir.to_owned(),
            banner,
            logs,
        }
    }

    pub fn start(config: &Value, data_dir: &Path) -> Server {
        Server::start_with(Some(config), data_dir, &[])
    }

    pub fn url(&self, query: &str) -> String {
        format!("ws://{}/ws?{query}", self.addr)
    }

    pub async fn connect(&self, query: &str) -> Ws {
        Ws::connect(&self.url(query)).await
    }

    /// Connects and reads past `chat.ready`.
    pub async fn ready(&self, query: &str) -> Ws {
        let mut ws = self.connect(query).await;
        let ready = ws.next_json().await.expect("ready frame");
        assert_eq!(ready["type"], "chat.ready", "{ready}");
        ws
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        // The shell builtin, so no procps package is needed.
        Command::new("sh")
            .args(["-c", &format!("kill -TERM {pid}")])
            .status()
            .unwrap();
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("server did not stop within 10 s after SIGTERM");
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path).await
    }

    /// The value of one metric line (exact name with labels).
    pub async fn metric(&self, line_prefix: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics").await;
        body.lines().find_map(|l| {
            l.strip_prefix(line_prefix)
                .and_then(|rest| rest.trim().parse().ok())
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let status = buf
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A WebSocket test client.
pub struct Ws {
    pub inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub close_code: Option<u16>,
}

impl Ws {
    pub async fn connect(url: &str) -> Ws {
        let (inner, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Ws {
            inner,
            close_code: None,
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.inner.send(Message::text(v.to_string())).await.unwrap();
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.inner
            .send(Message::text(text.to_owned()))
            .await
            .unwrap();
    }

    /// The next JSON frame, or None when the socket closed (close code kept).
    pub async fn next_json(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.inner.next())
                .await
                .expect("frame within 15 s");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Some(serde_json::from_str(t.as_str()).unwrap())
                }
                Some(Ok(Message::Close(c))) => {
                    self.close_code = c.map(|c| u16::from(c.code));
                    return None;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Frames up to and including the first one matching `done`.
    pub async fn until(&mut self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let f = self
                .next_json()
                .await
                .unwrap_or_else(|| panic!("closed ({:?}) after {frames:?}", self.close_code));
            let stop = done(&f);
            frames.push(f);
            if stop {
                return frames;
            }
        }
    }

    /// Sends `chat.send` with `content` plus `extra` fields; returns every frame up to the
    /// final `chat.response` (or `chat.error`) of that message.
    pub async fn chat(&mut self, content: &str, extra: Value) -> Vec<Value> {
        let mut frame = json!({"type": "chat.send", "content": content});
        merge(&mut frame, extra);
        self.send(frame).await;
        self.until(is_final).await
    }

    /// Reads until the server closes; returns the frames seen.
    pub async fn until_closed(&mut self) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Some(f) = self.next_json().await {
            frames.push(f);
        }
        frames
    }
}

pub fn is_final(f: &Value) -> bool {
    (f["type"] == "chat.response" && f["done"] == true) || f["type"] == "chat.error"
}

pub fn last_text(frames: &[Value]) -> String {
    frames.last().unwrap()["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A minimal HTTP/1.1 server: each request (method line, headers, body by Content-Length) is
/// recorded and answered by `handler`, which returns the raw response bytes (it may sleep).
pub struct HttpPeer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
    pub heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpPeer {
    pub async fn start<F, Fut>(handler: F) -> HttpPeer
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Vec<u8>> + Send,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let head_log = heads.clone();
        let handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    break;
                };
                let handler = handler.clone();
                let log = log.clone();
                let head_log = head_log.clone();
                tokio::spawn(async move {
                    let Some((head, body)) = read_request(&mut stream).await else {
                        return;
                    };
                    head_log.lock().unwrap().push(head);
                    log.lock().unwrap().push(body.clone());
                    let response = handler(body).await;
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        HttpPeer {
            addr,
            requests,
            heads,
            task,
        }
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|b| serde_json::from_str(b).unwrap_or(Value::Null))
            .collect()
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
            return Some((head, body));
        }
    }
}

pub fn http_response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A path no one listens on (bound, then released).
pub fn dead_address() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

pub fn write_script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    path
}
