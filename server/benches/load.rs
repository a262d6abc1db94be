//! Load generator: many WebSocket connections over loopback, each sending `chat.send` and
//! reading typing, 20 stream frames and the response from a stub agent. Runs clawsocket (the
//! `stub` backend) and, in the same invocation, the Node `ws` baseline in `server/bench/`
//! (the seed server's behaviour with the same stub), and prints ratios.
//!
//! `cargo bench -p clawsocket-server --bench load` (set BENCH_SCALE=small for a quick run).
//! Needs `ulimit -n` above 2 x the largest connection count plus slack (see server/bench/run.sh).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

struct Target {
    name: &'static str,
    child: Child,
    port: u16,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(name: &'static str, mut cmd: Command) -> Target {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let port = loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("{name} exited before listening");
        }
        if let Some(addr) = line.split("listening on ").nth(1) {
            break addr.trim().rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    Target { name, child, port }
}

fn start_clawsocket(dir: &Path) -> Target {
    let config = serde_json::json!({
        "auth": {"enabled": false},
        "agent": {"backend": "stub", "stub": {"chunks": 20, "text": "lorem ipsum "}},
        "store": {"replaySaveMs": 0},
        "limits": {"messagesPerMinute": 0},
        "timing": {"idleTimeoutMs": 0},
        "server": {"maxConnections": 100000, "maxConnectionsPerAddress": 100000}
    });
    let file = dir.join("bench.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawsocket"));
    cmd.args(["serve", "--host", "127.0.0.1", "--port", "0", "--config"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn");
    spawn("clawsocket", cmd)
}

fn start_baseline(bench_dir: &Path) -> Option<Target> {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("node not found: baseline skipped");
        return None;
    }
    if !bench_dir.join("node_modules/ws").exists() {
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--no-package-lock"])
            .current_dir(bench_dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("npm install failed: baseline skipped");
            return None;
        }
    }
    let mut cmd = Command::new("node");
    cmd.arg(bench_dir.join("baseline.js"))
        .env("STUB_CHUNKS", "20");
    Some(spawn("node-ws", cmd))
}

/// (CPU seconds, RSS bytes) of a process.
fn usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (ticks / 100.0, rss_kb * 1024)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `n` connections (bounded parallelism) and waits for each one's first frame.
async fn open(port: u16, n: usize, tag: &str) -> Vec<Socket> {
    let gate = Arc::new(Semaphore::new(200));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let gate = gate.clone();
        let url = format!("ws://127.0.0.1:{port}/ws?senderId={tag}-{i}");
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            ws.next().await.expect("first frame").expect("first frame");
            ws
        }));
    }
    let mut sockets = Vec::with_capacity(n);
    for t in tasks {
        sockets.push(t.await.unwrap());
    }
    sockets
}

struct Load {
    messages: usize,
    seconds: f64,
    latencies_us: Vec<u64>,
    cpu: f64,
}

/// Every socket sends `per_conn` messages one after another; each waits for its final reply
/// and checks it saw 20 stream frames.
async fn run_load(pid: u32, sockets: Vec<Socket>, per_conn: usize) -> Load {
    let (cpu0, _) = usage(pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut ws in sockets {
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_conn);
            for i in 0..per_conn {
                let frame = format!(r#"{{"type":"chat.send","content":"hello {i}"}}"#);
                let t0 = Instant::now();
                ws.send(Message::text(frame)).await.unwrap();
                let mut streams = 0;
                loop {
                    let msg = ws.next().await.expect("frame").expect("frame");
                    let Message::Text(text) = msg else { continue };
                    let v: Value = serde_json::from_str(text.as_str()).unwrap();
                    match v["type"].as_str() {
                        Some("chat.stream") => streams += 1,
                        Some("chat.response")
                            if v["done"] == true && v.get("messageId").is_some() =>
                        {
                            break
                        }
                        Some("chat.error") => panic!("error frame: {v}"),
                        _ => {}
                    }
                }
                assert_eq!(streams, 20, "20 stream frames per reply");
                lat.push(t0.elapsed().as_micros() as u64);
            }
            let _ = ws.close(None).await;
            lat
        }));
    }
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    let (cpu1, _) = usage(pid);
    latencies_us.sort_unstable();
    Load {
        messages: latencies_us.len(),
        seconds,
        latencies_us,
        cpu: cpu1 - cpu0,
    }
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

#[derive(Debug, Default, Clone)]
struct Row {
    idle_bytes_per_conn: f64,
    msgs_per_sec: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    cpu_us_per_msg: f64,
}

async fn measure(target: &Target, conns: usize, per_conn: usize) -> Row {
    let pid = target.child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, rss0) = usage(pid);
    let sockets = open(target.port, conns, &format!("{}-{conns}", target.name)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (_, rss1) = usage(pid);
    let idle = rss1.saturating_sub(rss0) as f64 / conns as f64;
    let load = run_load(pid, sockets, per_conn).await;
    // Let the server notice the closes before the next phase.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    Row {
        idle_bytes_per_conn: idle,
        msgs_per_sec: load.messages as f64 / load.seconds,
        p50: pct(&load.latencies_us, 0.50),
        p99: pct(&load.latencies_us, 0.99),
        p999: pct(&load.latencies_us, 0.999),
        cpu_us_per_msg: load.cpu * 1e6 / load.messages as f64,
    }
}

fn print_row(name: &str, conns: usize, r: &Row) {
    println!(
        "| {name:<10} | {conns:>6} | {:>9.0} | {:>8.2} | {:>8.2} | {:>8.2} | {:>10.1} | {:>12.0} |",
        r.msgs_per_sec, r.p50, r.p99, r.p999, r.cpu_us_per_msg, r.idle_bytes_per_conn
    );
}

fn main() {
    let small = std::env::var("BENCH_SCALE").as_deref() == Ok("small");
    let scales: Vec<(usize, usize)> = if small {
        vec![(100, 20), (1000, 2)]
    } else {
        vec![(1000, 20), (10_000, 2)]
    };
    let bench_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench");
    let data = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut results: Vec<(&'static str, usize, Row)> = Vec::new();
    for &(conns, per_conn) in &scales {
        let dir = data.path().join(format!("c{conns}"));
        std::fs::create_dir_all(&dir).unwrap();
        let targets: Vec<Target> = [Some(start_clawsocket(&dir)), start_baseline(&bench_dir)]
            .into_iter()
            .flatten()
            .collect();
        for target in &targets {
            eprintln!("{}: {conns} connections x {per_conn} messages", target.name);
            let row = runtime.block_on(measure(target, conns, per_conn));
            results.push((target.name, conns, row));
        }
    }

    println!("\n| server     |  conns |   msgs/s  | p50 ms   | p99 ms   | p99.9 ms | CPU us/msg | idle B/conn  |");
    println!("|------------|--------|-----------|----------|----------|----------|------------|--------------|");
    for (name, conns, row) in &results {
        print_row(name, *conns, row);
    }
    println!();
    for &(conns, _) in &scales {
        let find = |n: &str| {
            results
                .iter()
                .find(|(name, c, _)| *name == n && *c == conns)
                .map(|r| r.2.clone())
        };
        if let (Some(c), Some(b)) = (find("clawsocket"), find("node-ws")) {
            println!(
                "{conns} connections: throughput {:.2}x the baseline, CPU per message {:.2}x, idle memory per connection {:.2}x ({:.0} B vs {:.0} B)",
                c.msgs_per_sec / b.msgs_per_sec,
                c.cpu_us_per_msg / b.cpu_us_per_msg,
                c.idle_bytes_per_conn / b.idle_bytes_per_conn.max(1.0),
                c.idle_bytes_per_conn,
                b.idle_bytes_per_conn
            );
        }
    }
}
