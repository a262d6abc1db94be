//! `clawsocket chat URL`: an interactive terminal client on the core's client state machine.
//! Lines typed on stdin are sent; replies are printed as they stream in; the client reconnects
//! and resumes (protocol 2) when the connection drops.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::time::{Duration, Instant};

use clawsocket_core::{parse_query, Client, ClientEvent, ClientOptions, SendOptions};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;

/// Options of the `chat` command.
#[derive(Debug, Clone)]
pub struct ChatOptions {
    /// `ws://host:port/path?senderId=..&token=..`.
    pub url: String,
    /// Overrides `senderId` of the URL.
    pub sender_id: Option<String>,
    /// Overrides `senderName` of the URL.
    pub sender_name: Option<String>,
    /// Overrides `token` of the URL.
    pub token: Option<String>,
    /// Protocol version to speak (1 or 2).
    pub protocol: u8,
}

/// Runs the chat until stdin ends or the server closes for good.
pub async fn run(options: ChatOptions) -> Result<(), String> {
    let (base, query) = match options.url.split_once('?') {
        Some((b, q)) => (b.to_owned(), q.to_owned()),
        None => (options.url.clone(), String::new()),
    };
    if !base.starts_with("ws://") && !base.starts_with("wss://") {
        return Err(format!("expected a ws:// URL, got {base:?}"));
    }
    let params = parse_query(&query);
    let param = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut client = Client::new(ClientOptions {
        sender_id: options.sender_id.or_else(|| param("senderId")),
        sender_name: options.sender_name.or_else(|| param("senderName")),
        token: options.token.or_else(|| param("token")),
        protocol: options.protocol,
        ..ClientOptions::default()
    });
    let origin = Instant::now();
    let now = || origin.elapsed().as_millis() as u64 + 1;

    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut socket = None;
    let mut printed: HashMap<String, usize> = HashMap::new();
    let mut awaiting: HashSet<String> = HashSet::new();
    println!("Type a message and press Enter (Ctrl-D to quit).");
    loop {
        // Drain the client's outputs first.
        while let Some(event) = client.poll_event() {
            match event {
                ClientEvent::Reconnect { attempt } => {
                    if attempt > 0 {
                        eprintln!("[reconnecting, attempt {attempt}]");
                    }
                    let url = format!("{base}?{}", client.connect_query());
                    match tokio_tungstenite::connect_async(url.as_str()).await {
                        Ok((ws, _)) => {
                            socket = Some(ws);
                            client.handle_open(now());
                        }
                        Err(e) => {
                            eprintln!("[cannot connect: {e}]");
                            client.handle_close(now(), 1006);
                        }
                    }
                }
                ClientEvent::Closed { code, reconnecting } => {
                    socket = None;
                    if !reconnecting {
                        eprintln!("[closed by the server, code {code}]");
                        return Ok(());
                    }
                }
                other => {
                    if let Some(done) = render(&other, &mut printed) {
                        awaiting.remove(&done);
                    }
                }
            }
        }
        if let Some(ws) = socket.as_mut() {
            while let Some(frame) = client.poll_transmit() {
                if ws.send(Message::text(frame)).await.is_err() {
                    break;
                }
            }
        }
        if !stdin_open && awaiting.is_empty() {
            client.stop();
            return Ok(());
        }
        let wait = client
            .poll_timeout()
            .map(|at| Duration::from_millis(at.saturating_sub(now())))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) if !line.trim().is_empty() => {
                    let message = SendOptions { content: line, ..SendOptions::default() };
                    match client.send(now(), &message) {
                        Ok(id) => { awaiting.insert(id); }
                        Err(e) => eprintln!("[not sent: {}]", e.as_str()),
                    }
                }
                Ok(Some(_)) => {}
                _ => stdin_open = false,
            },
            frame = next_frame(&mut socket) => match frame {
                Some(Message::Text(text)) => { let _ = client.handle_frame(now(), text.as_str()); }
                Some(Message::Close(close)) => {
                    let code = close.map_or(1005, |c| u16::from(c.code));
                    client.handle_close(now(), code);
                }
                Some(_) => {}
                None => client.handle_close(now(), 1006),
            },
            _ = tokio::time::sleep(wait) => client.handle_timeout(now()),
        }
    }
}

async fn next_frame(
    socket: &mut Option<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    >,
) -> Option<Message> {
    match socket {
        Some(ws) => match ws.next().await {
            Some(Ok(m)) => Some(m),
            _ => {
                *socket = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

/// Prints one event; `printed` tracks how much of each running reply is on screen.
/// Returns the message id of a reply or error that ends a message.
fn render(event: &ClientEvent, printed: &mut HashMap<String, usize>) -> Option<String> {
    let mut out = std::io::stdout();
    match event {
        ClientEvent::Ready {
            sender_id,
            authenticated,
            ..
        } => {
            let how = if *authenticated {
                "authenticated"
            } else {
                "unauthenticated"
            };
            println!("[connected as {sender_id}, {how}]");
        }
        ClientEvent::Typing { .. } => {}
        ClientEvent::Partial {
            message_id, text, ..
        } => {
            let shown = printed.entry(message_id.clone()).or_insert_with(|| {
                let _ = write!(out, "agent> ");
                0
            });
            if let Some(rest) = text.get(*shown..) {
                let _ = write!(out, "{rest}");
                *shown = text.len();
            }
            let _ = out.flush();
        }
        ClientEvent::Reply {
            message_id,
            text,
            cancelled,
            ..
        } => {
            match printed.remove(message_id) {
                Some(shown) if text.get(..shown).is_some() => println!("{}", &text[shown..]),
                Some(_) => println!("\nagent> {text}"),
                None => println!("agent> {text}"),
            }
            if *cancelled {
                println!("[reply cancelled]");
            }
            return Some(message_id.clone());
        }
        ClientEvent::Error {
            message_id,
            message,
            code_text,
            ..
        } => {
            println!(
                "[error{}: {message}]",
                code_text
                    .as_deref()
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default()
            );
            if let Some(id) = message_id {
                printed.remove(id);
                return Some(id.clone());
            }
        }
        ClientEvent::ResumeGap { session_key } => {
            println!("[some messages of {session_key} could not be replayed]")
        }
        ClientEvent::History { frame } => println!("[history] {frame}"),
        ClientEvent::Acked { .. } | ClientEvent::Reconnect { .. } | ClientEvent::Closed { .. } => {}
    }
    None
}
