//! One port for everything: reads the HTTP request head of each TCP connection, upgrades the
//! configured path to a WebSocket, and answers `/healthz`, `/metrics` and `/` itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::hub::{Hub, Refusal, Ticket, CLOSE_SLOW_CONSUMER};
use crate::outbox::{Next, Out};

const MAX_HEAD_BYTES: usize = 16 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The browser chat page and its assets, compiled in (see `server/web/` and docs/web.md).
const INDEX_HTML: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const CLIENT_JS: &str = include_str!("../web/client.js");
const APP_CSS: &str = include_str!("../web/app.css");
const FAVICON_SVG: &str = include_str!("../web/favicon.svg");
const CLIENT_WASM: &[u8] = include_bytes!("../web/clawsocket.wasm");
/// Where the page learns the WebSocket path (replaced when `/` is served).
const WS_PATH_PLACEHOLDER: &str = "{{WS_PATH}}";
/// Everything the page needs comes from this origin: scripts and styles from files (no inline
/// code), the socket and the .wasm from here ('self' covers ws:// on the same host and port).
const PAGE_SECURITY_HEADERS: &str = "Content-Security-Policy: default-src 'none'; \
script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; connect-src 'self'; img-src 'self'; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n\
X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n";

/// Accepts connections until the task is dropped.
pub async fn accept_loop(hub: Arc<Hub>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(handle_tcp(hub.clone(), stream, peer));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

struct Head {
    method: String,
    target: String,
    upgrade_websocket: bool,
    key: Option<String>,
    version_13: bool,
    length: usize,
}

async fn read_head(stream: &mut TcpStream) -> Option<(Head, Vec<u8>)> {
    // Read straight into the heap buffer: a stack array here would live in every
    // connection's task for its whole life (futures are sized by their largest state).
    let mut buf = Vec::with_capacity(1024);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(1024);
        }
        let n = stream.read_buf(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        let mut headers = [httparse::EMPTY_HEADER; 48];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(length)) => {
                let header = |name: &str| {
                    request
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .map(str::to_owned)
                };
                let has_token = |name: &str, token: &str| {
                    header(name)
                        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                };
                let head = Head {
                    method: request.method.unwrap_or("").to_owned(),
                    target: request.path.unwrap_or("/").to_owned(),
                    upgrade_websocket: has_token("upgrade", "websocket")
                        && has_token("connection", "upgrade"),
                    key: header("sec-websocket-key"),
                    version_13: header("sec-websocket-version").is_some_and(|v| v.trim() == "13"),
                    length,
                };
                return Some((head, buf));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => continue,
            _ => return None,
        }
    }
}

async fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A file of the chat page, with the page's security headers.
async fn respond_static(stream: &mut TcpStream, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n{PAGE_SECURITY_HEADERS}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

/// Text safe inside a double-quoted HTML attribute.
fn html_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn handle_tcp(hub: Arc<Hub>, mut stream: TcpStream, peer: SocketAddr) {
    let Ok(Some((head, buf))) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await
    else {
        return;
    };
    let (path, query) = match head.target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (head.target.as_str(), ""),
    };
    if head.method != "GET" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n",
        )
        .await;
    }
    if path == hub.settings().core.path {
        if !head.upgrade_websocket || !head.version_13 {
            return respond(
                &mut stream,
                "426 Upgrade Required",
                "text/plain",
                "WebSocket upgrade (version 13) expected\n",
            )
            .await;
        }
        let Some(key) = head.key.as_deref() else {
            return respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                "Sec-WebSocket-Key missing\n",
            )
            .await;
        };
        let accept = derive_accept_key(key.trim().as_bytes());
        let ticket = match hub.open(peer.ip(), query) {
            Ok(ticket) => ticket,
            Err(refusal) => {
                let text = match refusal {
                    Refusal::TooManyConnections => "too many connections\n",
                    Refusal::TooManyFromAddress => "too many connections from this address\n",
                    Refusal::ShuttingDown => "shutting down\n",
                };
                return respond(&mut stream, "503 Service Unavailable", "text/plain", text).await;
            }
        };
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            hub.closed(ticket.id);
            return;
        }
        let leftover = buf[head.length..].to_vec();
        drop(buf);
        let limits = &hub.settings().core.limits;
        let mut config = WebSocketConfig::default();
        config.read_buffer_size = hub.settings().read_buffer_bytes;
        // Frames queued together leave in one write; the buffer is small so that it stays
        // small for every connection that ever wrote a burst.
        config.write_buffer_size = 4096;
        // The core refuses frames above maxFrameBytes with a chat.error; far larger ones are
        // cut off here before they are buffered.
        config.max_message_size = Some(limits.max_frame_bytes.saturating_mul(2).max(64 * 1024));
        config.max_frame_size = config.max_message_size;
        let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(config))
            .await;
        // A task of its own, so the long-lived future holds only the socket's state and not
        // the request head or the HTTP handling around it.
        tokio::spawn(serve_socket(hub, ws, ticket));
        return;
    }
    match path {
        "/healthz" => {
            let body = format!(
                "{{\"status\":\"ok\",\"connections\":{}}}\n",
                hub.connection_count()
            );
            respond(&mut stream, "200 OK", "application/json", &body).await
        }
        "/metrics" => {
            let body = hub.render_metrics();
            respond(&mut stream, "200 OK", "text/plain; version=0.0.4", &body).await
        }
        "/" | "/index.html" => {
            let page = INDEX_HTML.replace(
                WS_PATH_PLACEHOLDER,
                &html_attribute(&hub.settings().core.path),
            );
            respond_static(&mut stream, "text/html; charset=utf-8", page.as_bytes()).await
        }
        "/app.js" => {
            respond_static(
                &mut stream,
                "text/javascript; charset=utf-8",
                APP_JS.as_bytes(),
            )
            .await
        }
        "/client.js" => {
            respond_static(
                &mut stream,
                "text/javascript; charset=utf-8",
                CLIENT_JS.as_bytes(),
            )
            .await
        }
        "/app.css" => {
            respond_static(&mut stream, "text/css; charset=utf-8", APP_CSS.as_bytes()).await
        }
        "/favicon.svg" | "/favicon.ico" => {
            respond_static(&mut stream, "image/svg+xml", FAVICON_SVG.as_bytes()).await
        }
        "/clawsocket.wasm" => respond_static(&mut stream, "application/wasm", CLIENT_WASM).await,
        _ => respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await,
    }
}

/// Pumps one WebSocket: inbound frames into the hub, the hub's queue onto the socket.
async fn serve_socket(hub: Arc<Hub>, mut ws: WebSocketStream<TcpStream>, ticket: Ticket) {
    let Ticket { id, outbound } = ticket;
    'pump: loop {
        tokio::select! {
            next = outbound.next(64) => match next {
                Next::Frames(frames) => {
                    // Write what is queued in one flush; stay killable while the peer is slow.
                    let mut close = None;
                    let write = async {
                        for out in frames {
                            match out {
                                Out::Text(text) => ws.feed(Message::text(text)).await?,
                                Out::Close(code, reason) => {
                                    close = Some((code, reason));
                                    break;
                                }
                            }
                        }
                        ws.flush().await
                    };
                    tokio::select! {
                        result = write => if result.is_err() { break 'pump },
                        _ = outbound.killed() => { close_slow(&mut ws).await; break 'pump }
                    }
                    if let Some((code, reason)) = close {
                        close_gracefully(&mut ws, code, reason).await;
                        break;
                    }
                }
                Next::Killed => {
                    close_slow(&mut ws).await;
                    break;
                }
                Next::Ended => break,
            },
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => hub.text(id, text.as_bytes()),
                Some(Ok(Message::Binary(data))) => hub.binary(id, &data),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
        }
    }
    hub.closed(id);
}

/// Sends the close frame, then waits briefly for the peer's close so the handshake completes.
async fn close_gracefully(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: String) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let handshake = async {
        ws.close(Some(frame)).await?;
        while let Some(message) = ws.next().await {
            message?;
        }
        Ok::<(), tokio_tungstenite::tungstenite::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), handshake).await;
}

/// A client that stopped reading: try to say why, but never wait on it for long.
async fn close_slow(ws: &mut WebSocketStream<TcpStream>) {
    let frame = CloseFrame {
        code: CloseCode::from(CLOSE_SLOW_CONSUMER),
        reason: "Slow consumer: outbound queue full".into(),
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), ws.close(Some(frame))).await;
}
