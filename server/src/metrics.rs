//! Counters for `/metrics` (Prometheus text format). They live inside the hub, under its lock.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Upper bounds of the auth latency histogram, in milliseconds.
const AUTH_BUCKETS_MS: [u64; 10] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/// Everything counted since start.
#[derive(Debug, Default)]
pub struct Metrics {
    /// WebSocket connections accepted.
    pub connections_total: u64,
    /// Upgrades refused by the connection limits.
    pub connections_refused: u64,
    /// Text and binary frames received.
    pub frames_in: u64,
    /// Text frames queued for clients.
    pub frames_out: u64,
    /// Turns started by the agent backend.
    pub turns_started: u64,
    /// Turns ended, by outcome.
    pub turns_finished: BTreeMap<&'static str, u64>,
    /// `chat.error` frames sent, by code.
    pub errors: BTreeMap<String, u64>,
    /// Connections closed by the server, by close code.
    pub closes: BTreeMap<u16, u64>,
    auth_buckets: [u64; AUTH_BUCKETS_MS.len()],
    auth_count: u64,
    auth_sum_ms: u64,
}

/// Gauges read from the core and the hub when rendering.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// Open connections.
    pub connections: usize,
    /// Sessions in memory.
    pub sessions: usize,
    /// Turns running or queued.
    pub turns: usize,
}

impl Metrics {
    /// Counts an outbound text frame (and its error code, if it is a `chat.error`).
    pub fn frame_out(&mut self, text: &str) {
        self.frames_out += 1;
        if text.starts_with(r#"{"type":"chat.error""#) {
            let code = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
                .unwrap_or_else(|| "unknown".to_owned());
            *self.errors.entry(code).or_default() += 1;
        }
    }

    /// Counts a close the server initiated.
    pub fn close(&mut self, code: u16) {
        *self.closes.entry(code).or_default() += 1;
    }

    /// Records how long one verification took.
    pub fn auth_latency(&mut self, ms: u64) {
        self.auth_count += 1;
        self.auth_sum_ms += ms;
        for (i, bound) in AUTH_BUCKETS_MS.iter().enumerate() {
            if ms <= *bound {
                self.auth_buckets[i] += 1;
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, g: Gauges) -> String {
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, lines: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in lines {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: u64| vec![(String::new(), v)];
        metric(
            "clawsocket_connections",
            "gauge",
            "Open WebSocket connections.",
            &one(g.connections as u64),
        );
        metric(
            "clawsocket_connections_total",
            "counter",
            "WebSocket connections accepted.",
            &one(self.connections_total),
        );
        metric(
            "clawsocket_connections_refused_total",
            "counter",
            "Upgrades refused by connection limits.",
            &one(self.connections_refused),
        );
        metric(
            "clawsocket_sessions",
            "gauge",
            "Chat sessions held in memory.",
            &one(g.sessions as u64),
        );
        metric(
            "clawsocket_turns",
            "gauge",
            "Turns running or queued.",
            &one(g.turns as u64),
        );
        metric(
            "clawsocket_turns_started_total",
            "counter",
            "Turns handed to the agent backend.",
            &one(self.turns_started),
        );
        let finished: Vec<_> = self
            .turns_finished
            .iter()
            .map(|(k, v)| (format!("{{outcome=\"{k}\"}}"), *v))
            .collect();
        metric(
            "clawsocket_turns_finished_total",
            "counter",
            "Turns ended, by outcome.",
            &finished,
        );
        metric(
            "clawsocket_frames_received_total",
            "counter",
            "WebSocket frames received.",
            &one(self.frames_in),
        );
        metric(
            "clawsocket_frames_sent_total",
            "counter",
            "Text frames sent.",
            &one(self.frames_out),
        );
        let errors: Vec<_> = self
            .errors
            .iter()
            .map(|(k, v)| (format!("{{code=\"{k}\"}}"), *v))
            .collect();
        metric(
            "clawsocket_errors_total",
            "counter",
            "chat.error frames sent, by code.",
            &errors,
        );
        let closes: Vec<_> = self
            .closes
            .iter()
            .map(|(k, v)| (format!("{{code=\"{k}\"}}"), *v))
            .collect();
        metric(
            "clawsocket_closes_total",
            "counter",
            "Connections closed by the server, by close code.",
            &closes,
        );
        let mut auth: Vec<_> = AUTH_BUCKETS_MS
            .iter()
            .zip(self.auth_buckets)
            .map(|(b, v)| (format!("_bucket{{le=\"{}\"}}", *b as f64 / 1000.0), v))
            .collect();
        auth.push(("_bucket{le=\"+Inf\"}".to_owned(), self.auth_count));
        auth.push(("_count".to_owned(), self.auth_count));
        let _ = writeln!(
            out,
            "# HELP clawsocket_auth_seconds Time to verify a token.\n# TYPE clawsocket_auth_seconds histogram"
        );
        for (suffix, v) in auth {
            let _ = writeln!(out, "clawsocket_auth_seconds{suffix} {v}");
        }
        let _ = writeln!(
            out,
            "clawsocket_auth_seconds_sum {}",
            self.auth_sum_ms as f64 / 1000.0
        );
        out
    }
}
