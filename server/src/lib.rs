//! # clawsocket-server
//!
//! The `clawsocket` reference server: the `openclaw-websocket` chat protocol (implemented by
//! `clawsocket-core`) over real sockets, with agent backends, auth, a SQLite store, metrics and
//! graceful shutdown. The server owns the sockets, the clock, HTTP, the disk and the agents;
//! every protocol decision stays in the core (see [`hub`]).

pub mod agent;
pub mod auth;
pub mod chat;
pub mod hub;
pub mod listener;
pub mod media;
pub mod metrics;
pub mod outbox;
pub mod provision;
pub mod settings;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use settings::{AuthMode, Settings};

/// Serves until `shutdown` completes, then shuts down gracefully.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    let settings = Arc::new(settings);
    let (store, restored, store_thread) = store::Store::open(&settings.data_dir)?;
    let hub = hub::Hub::new(settings.clone(), store, restored)?;
    let address = format!("{}:{}", settings.core.host, settings.core.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    print_banner(&settings, local);
    tracing::info!(address = %local, path = %settings.core.path, auth = ?settings.auth, "listening");

    let accept = tokio::spawn(listener::accept_loop(hub.clone(), listener));
    let timers = tokio::spawn(hub.clone().run_timers());
    let housekeeping = tokio::spawn(hub.clone().run_housekeeping());
    shutdown.await;
    tracing::info!("shutting down");
    accept.abort();
    hub.shutdown(Duration::from_secs(3)).await;
    timers.abort();
    housekeeping.abort();
    let _ = housekeeping.await;
    let _ = timers.await;
    drop(hub);
    // `shutdown` flushed the store; a socket still finishing its closing handshake may hold
    // the last handle, so the store thread is not joined (it ends with the process).
    drop(store_thread);
    tracing::info!("stopped");
    Ok(())
}

/// Tells a human how to connect (stdout; the log never sees the token).
fn print_banner(settings: &Settings, local: SocketAddr) {
    let host = match local.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let base = format!("{host}:{}", local.port());
    let path = &settings.core.path;
    println!("clawsocket: listening on {}", local);
    let (query, page_query) = match &settings.auth {
        AuthMode::Generated(token) => {
            println!("clawsocket: no auth configured, so this server requires a generated token (set auth.enabled: false to open it)");
            let token = query_value(token);
            (
                format!("?senderId=me&token={token}"),
                format!("?token={token}"),
            )
        }
        AuthMode::External => ("?senderId=me&token=YOUR_TOKEN".to_owned(), String::new()),
        AuthMode::Open => ("?senderId=me".to_owned(), String::new()),
    };
    println!("clawsocket: connect with: wscat -c 'ws://{base}{path}{query}'");
    println!("clawsocket: or:           clawsocket chat 'ws://{base}{path}{query}'");
    // The page takes the token from its own URL, so the printed link logs straight in.
    println!("clawsocket: browser:      http://{base}/{page_query}");
    println!("clawsocket: health:       http://{base}/healthz   metrics: http://{base}/metrics");
}

/// Percent-encodes a URL query value (a `CLAWSOCKET_TOKEN` may hold any character).
fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
