//! The hub drives the protocol core: every input (a frame, an auth answer, agent output, a
//! timer) locks it, calls one core method and drains the core's outputs — frames go to the
//! connections' bounded queues, events become auth calls, agent runs, store writes. It makes
//! no protocol decision of its own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clawsocket_core::{
    ConnectionId, Event, HistoryMessage, HistoryPage, MediaKind, Payload, Server, Turn, TurnId,
};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::agent::{self, Agent, AgentError, AgentOutput, AgentRun};
use crate::auth::{self, Verdict};
use crate::metrics::{Gauges, Metrics};
use crate::outbox::{self, Out, Refused};
use crate::settings::{AuthMode, Settings};
use crate::store::{unix_ms, Store, UserMessage};

/// Close code for a client that stopped reading: its outbound queue filled up.
pub use clawsocket_core::CLOSE_SLOW_CONSUMER;

/// A connection's end of the hub.
#[derive(Debug)]
pub struct Ticket {
    /// The core's id for the connection.
    pub id: ConnectionId,
    /// Frames to write, in order, and the slow-consumer kill switch.
    pub outbound: outbox::Receiver,
}

/// Why an upgrade was refused before it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `server.maxConnections` reached.
    TooManyConnections,
    /// `server.maxConnectionsPerAddress` reached.
    TooManyFromAddress,
    /// The server is shutting down.
    ShuttingDown,
}

struct Link {
    queue: outbox::Sender,
    address: IpAddr,
    auth_started: Option<Instant>,
}

struct State {
    core: Server,
    links: HashMap<ConnectionId, Link>,
    per_address: HashMap<IpAddr, usize>,
    running: HashMap<TurnId, AbortHandle>,
    workspaces: HashMap<String, PathBuf>,
    metrics: Metrics,
    timer_armed: Option<u64>,
    sessions_dirty: bool,
    shutting_down: bool,
}

/// Shared by every task of the server.
pub struct Hub {
    state: Mutex<State>,
    timer: Notify,
    drained: Notify,
    settings: Arc<Settings>,
    agent: Arc<dyn Agent>,
    store: Store,
    http: reqwest::Client,
    origin: Instant,
    origin_unix_ms: u64,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub over a fresh core, restored from the store's last state.
    pub fn new(
        settings: Arc<Settings>,
        store: Store,
        restored: crate::store::Restored,
    ) -> Result<Arc<Hub>, String> {
        let agent = agent::from_settings(&settings.agent)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let mut core = Server::new(settings.core.clone());
        let origin = Instant::now();
        let origin_unix_ms = unix_ms();
        if let Some(exported) = &restored.sessions {
            if core.restore_sessions(origin_unix_ms, exported).is_err() {
                tracing::warn!(
                    "stored sessions could not be restored; starting with empty replay buffers"
                );
            }
        }
        let mut workspaces = HashMap::new();
        for (agent_id, workspace) in &restored.agents {
            core.restore_dynamic_agent(agent_id);
            workspaces.insert(agent_id.clone(), PathBuf::from(workspace));
        }
        for sender in &restored.allowed_senders {
            core.allow_sender(sender);
        }
        Ok(Arc::new(Hub {
            state: Mutex::new(State {
                core,
                links: HashMap::new(),
                per_address: HashMap::new(),
                running: HashMap::new(),
                workspaces,
                metrics: Metrics::default(),
                timer_armed: None,
                sessions_dirty: false,
                shutting_down: false,
            }),
            timer: Notify::new(),
            drained: Notify::new(),
            settings,
            agent,
            store,
            http,
            origin,
            origin_unix_ms,
        }))
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Milliseconds for the core: Unix time at start plus a monotonic clock since.
    pub fn now(&self) -> u64 {
        self.origin_unix_ms + self.origin.elapsed().as_millis() as u64
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug; keep serving rather than cascading it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ----- connections -----------------------------------------------------------------

    /// Registers a WebSocket (before its 101 is written) and hands its query to the core.
    pub fn open(self: &Arc<Self>, address: IpAddr, query: &str) -> Result<Ticket, Refusal> {
        let mut state = self.lock();
        let refusal = if state.shutting_down {
            Some(Refusal::ShuttingDown)
        } else if state.links.len() >= self.settings.max_connections {
            Some(Refusal::TooManyConnections)
        } else if state.per_address.get(&address).copied().unwrap_or(0)
            >= self.settings.max_connections_per_address
        {
            Some(Refusal::TooManyFromAddress)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            state.metrics.connections_refused += 1;
            return Err(refusal);
        }
        let (queue, outbound) = outbox::outbox(self.settings.outbound_queue);
        let now = self.now();
        state.metrics.connections_total += 1;
        *state.per_address.entry(address).or_default() += 1;
        // The core numbers connections itself; the link is filed under the id it returns,
        // before any of the connection's frames are routed (they wait in the core's queue).
        let id = state.core.handle_connect(now, query);
        state.links.insert(
            id,
            Link {
                queue,
                address,
                auth_started: None,
            },
        );
        tracing::debug!(connection = %id, %address, "connected");
        self.drain(&mut state);
        Ok(Ticket { id, outbound })
    }

    /// A text frame arrived.
    pub fn text(self: &Arc<Self>, id: ConnectionId, data: &[u8]) {
        self.input(|core, now| {
            let _ = core.handle_text(now, id, data);
        });
    }

    /// A binary frame arrived.
    pub fn binary(self: &Arc<Self>, id: ConnectionId, data: &[u8]) {
        self.input(|core, now| {
            let _ = core.handle_binary(now, id, data);
        });
    }

    /// The socket is gone.
    pub fn closed(self: &Arc<Self>, id: ConnectionId) {
        let mut state = self.lock();
        if Self::forget(&mut state, id) {
            let now = self.now();
            let _ = state.core.handle_disconnect(now, id);
            tracing::debug!(connection = %id, "disconnected");
            self.drain(&mut state);
        }
        if state.links.is_empty() {
            self.drained.notify_waiters();
        }
    }

    fn forget(state: &mut State, id: ConnectionId) -> bool {
        let Some(link) = state.links.remove(&id) else {
            return false;
        };
        if let Some(n) = state.per_address.get_mut(&link.address) {
            *n -= 1;
            if *n == 0 {
                state.per_address.remove(&link.address);
            }
        }
        true
    }

    fn input(self: &Arc<Self>, f: impl FnOnce(&mut Server, u64)) {
        let mut state = self.lock();
        state.metrics.frames_in += 1;
        let now = self.now();
        f(&mut state.core, now);
        self.drain(&mut state);
    }

    // ----- draining the core -------------------------------------------------------------

    fn drain(self: &Arc<Self>, state: &mut State) {
        loop {
            while let Some(t) = state.core.poll_transmit() {
                self.route(state, t.connection, t.payload);
            }
            match state.core.poll_event() {
                Some(event) => self.handle_event(state, event),
                None => break,
            }
        }
        let next = state.core.poll_timeout();
        if next.is_some() && (state.timer_armed.is_none() || next < state.timer_armed) {
            state.timer_armed = next;
            self.timer.notify_one();
        }
    }

    fn route(self: &Arc<Self>, state: &mut State, id: ConnectionId, payload: Payload) {
        let out = match payload {
            Payload::Text(text) => {
                state.metrics.frame_out(&text);
                state.sessions_dirty = true;
                Out::Text(text)
            }
            Payload::Close { code, reason } => {
                state.metrics.close(code);
                Out::Close(code, reason)
            }
        };
        let Some(link) = state.links.get(&id) else {
            return;
        };
        match link.queue.try_send(out) {
            Ok(()) => {}
            Err(Refused::Full) => {
                // Never buffer without bound: a client that stopped reading is dropped.
                tracing::warn!(connection = %id, "outbound queue full; closing slow consumer");
                link.queue.kill();
                state.metrics.close(CLOSE_SLOW_CONSUMER);
                Self::forget(state, id);
                let now = self.now();
                let _ = state.core.handle_disconnect(now, id);
            }
            // The connection task already ended; its `closed` call follows.
            Err(Refused::Closed) => {}
        }
    }

    fn handle_event(self: &Arc<Self>, state: &mut State, event: Event) {
        let now = self.now();
        match event {
            Event::VerifyToken {
                connection,
                request,
            } => match &self.settings.auth {
                AuthMode::Generated(token) => {
                    let started = Instant::now();
                    let verdict = auth::verify_local(token, &request);
                    state
                        .metrics
                        .auth_latency(started.elapsed().as_millis() as u64);
                    Self::apply_verdict(&mut state.core, now, connection, verdict);
                }
                _ => {
                    if let Some(link) = state.links.get_mut(&connection) {
                        link.auth_started = Some(Instant::now());
                    }
                    let hub = self.clone();
                    tokio::spawn(async move {
                        let c = &hub.settings.core.auth;
                        let verdict =
                            auth::verify_remote(&hub.http, &c.endpoint, request, c.timeout_ms)
                                .await;
                        let mut state = hub.lock();
                        if let Some(started) = state
                            .links
                            .get_mut(&connection)
                            .and_then(|l| l.auth_started.take())
                        {
                            state
                                .metrics
                                .auth_latency(started.elapsed().as_millis() as u64);
                        }
                        let now = hub.now();
                        Self::apply_verdict(&mut state.core, now, connection, verdict);
                        hub.drain(&mut state);
                    });
                }
            },
            Event::ProvisionAgent(p) => {
                let d = &self.settings.core.dynamic_agents;
                match crate::provision::provision(&d.workspace_template, &d.agent_dir_template, &p)
                {
                    Ok(made) => {
                        tracing::info!(agent = %p.agent_id, workspace = %made.workspace.display(), "dynamic agent created");
                        self.store.agent_created(
                            p.agent_id.clone(),
                            p.user_id.clone(),
                            made.workspace.display().to_string(),
                        );
                        state.workspaces.insert(p.agent_id.clone(), made.workspace);
                    }
                    Err(e) => {
                        tracing::error!(agent = %p.agent_id, error = %e, "dynamic agent not created")
                    }
                }
            }
            Event::RunTurn(turn) => self.start_turn(state, now, turn),
            Event::CancelTurn { turn, reason } => {
                if let Some(handle) = state.running.remove(&turn) {
                    handle.abort();
                }
                tracing::info!(%turn, reason = reason.as_str(), "turn cancelled");
            }
            Event::TurnFinished {
                turn,
                session_key,
                message_id,
                outcome,
                text,
            } => {
                state.running.remove(&turn);
                *state
                    .metrics
                    .turns_finished
                    .entry(outcome.as_str())
                    .or_default() += 1;
                self.store
                    .record_reply(session_key, message_id, outcome.as_str(), text);
            }
            Event::PairingRequested {
                code,
                sender_id,
                sender_name,
            } => {
                tracing::info!(%code, sender = %sender_id, "pairing requested: approve with `clawsocket pairing approve {code}`");
                self.store.pairing_requested(code, sender_id, sender_name);
            }
            Event::PairingApproved { code, sender_id } => {
                tracing::info!(%code, sender = %sender_id, "pairing approved");
                self.store.sender_allowed(code, sender_id);
            }
            Event::FetchHistory {
                request,
                session_key,
                limit,
                cursor,
            } => {
                let hub = self.clone();
                let from_agent = self.agent.history(&session_key, limit, cursor.as_deref());
                tokio::spawn(async move {
                    // The backend's own transcript when it keeps one, else the store's.
                    let page = match from_agent {
                        Some(page) => page.await,
                        None => {
                            let before = cursor.as_deref().and_then(|c| c.parse::<i64>().ok());
                            hub.store
                                .history(session_key, limit, before)
                                .await
                                .map(|rows| {
                                    let next_cursor = (rows.len() as u32 == limit && limit > 0)
                                        .then(|| rows.first().map(|r| r.row.to_string()))
                                        .flatten();
                                    HistoryPage {
                                        messages: rows
                                            .into_iter()
                                            .map(|r| HistoryMessage {
                                                message_id: r.message_id,
                                                role: r.role,
                                                sender_id: r.sender_id,
                                                sender_name: r.sender_name,
                                                content: r.content,
                                                at: r.at,
                                            })
                                            .collect(),
                                        next_cursor,
                                    }
                                })
                        }
                    };
                    let mut state = hub.lock();
                    let now = hub.now();
                    let _ = match page {
                        Ok(page) => state.core.handle_history(now, request, Ok(page)),
                        Err(reason) => state.core.handle_history(now, request, Err(&reason)),
                    };
                    hub.drain(&mut state);
                });
            }
        }
    }

    fn apply_verdict(core: &mut Server, now: u64, connection: ConnectionId, verdict: Verdict) {
        match verdict {
            Verdict::Answer(status, body) => {
                core.handle_auth_response(now, connection, status, &body)
            }
            Verdict::Unavailable => core.handle_auth_unavailable(now, connection),
        }
    }

    fn start_turn(self: &Arc<Self>, state: &mut State, now: u64, mut turn: Turn) {
        state.metrics.turns_started += 1;
        let id = turn.id();
        if turn.media().iter().any(|m| m.kind == MediaKind::Path) {
            // The agent gets the files under the media root; the core keeps what was sent.
            let mut media = turn.media().to_vec();
            if let Err(reason) =
                crate::media::resolve(self.settings.media_root.as_deref(), &mut media)
            {
                let _ = state.core.handle_agent_error(now, id, &reason);
                return;
            }
            turn = turn.with_media(media);
        }
        let workspace = state
            .workspaces
            .get(turn.agent_id())
            .cloned()
            .unwrap_or_else(|| self.settings.workspace.clone());
        let hub = self.clone();
        let task = tokio::spawn(async move {
            let message = UserMessage {
                session_key: turn.session_key().to_owned(),
                message_id: turn.message_id().to_owned(),
                sender_id: turn.sender_id().to_owned(),
                sender_name: turn.sender_name().map(str::to_owned),
                content: turn.content().to_owned(),
                at: unix_ms(),
            };
            let history = hub
                .store
                .begin_turn(message, hub.agent.history_messages())
                .await;
            let sink = hub.clone();
            let whole = hub.clone();
            let output = AgentOutput::new(move |delta| {
                sink.input_agent(|core, now| {
                    let _ = core.handle_agent_delta(now, id, delta);
                })
            })
            .with_text(move |text| {
                whole.input_agent(|core, now| {
                    let _ = core.handle_agent_text(now, id, text);
                })
            });
            let result = hub
                .agent
                .run(
                    AgentRun {
                        turn,
                        history,
                        workspace,
                    },
                    output,
                )
                .await;
            hub.input_agent(|core, now| {
                let _ = match &result {
                    Ok(text) => core.handle_agent_final(now, id, text.as_deref()),
                    Err(AgentError::Failed { failure, message }) => {
                        core.handle_agent_failure(now, id, *failure, message)
                    }
                    Err(AgentError::Cancelled) => core.handle_agent_cancelled(now, id, None),
                };
            });
        });
        state.running.insert(id, task.abort_handle());
    }

    fn input_agent(self: &Arc<Self>, f: impl FnOnce(&mut Server, u64)) {
        let mut state = self.lock();
        let now = self.now();
        f(&mut state.core, now);
        self.drain(&mut state);
    }

    // ----- background duties ---------------------------------------------------------------

    /// Runs the core's deadlines for as long as the server lives.
    pub async fn run_timers(self: Arc<Self>) {
        loop {
            let next = {
                let mut state = self.lock();
                let next = state.core.poll_timeout();
                state.timer_armed = next;
                next
            };
            let wait = match next {
                Some(at) => Duration::from_millis(at.saturating_sub(self.now())),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.timer.notified() => continue,
            }
            let mut state = self.lock();
            state.timer_armed = None;
            let now = self.now();
            state.core.handle_timeout(now);
            self.drain(&mut state);
        }
    }

    /// Saves the replay buffers when they changed and applies operator pairing approvals.
    pub async fn run_housekeeping(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let save_every = self.settings.replay_save_ms;
        let mut last_save = Instant::now();
        loop {
            tick.tick().await;
            if save_every > 0 && last_save.elapsed() >= Duration::from_millis(save_every) {
                last_save = Instant::now();
                self.save_sessions();
            }
            for row in self.store.take_approvals().await {
                let mut state = self.lock();
                let now = self.now();
                match state.core.approve_pairing(now, &row.code) {
                    Ok(_) => {} // PairingApproved follows and records it.
                    Err(_) => {
                        // Requested before a restart: the core no longer knows the code.
                        state.core.allow_sender(&row.sender_id);
                        self.store
                            .sender_allowed(row.code.clone(), row.sender_id.clone());
                    }
                }
                self.drain(&mut state);
            }
        }
    }

    fn save_sessions(&self) {
        let exported = {
            let mut state = self.lock();
            if !state.sessions_dirty {
                return;
            }
            state.sessions_dirty = false;
            state.core.export_sessions()
        };
        self.store.save_sessions(exported);
    }

    /// `/metrics` text.
    pub fn render_metrics(&self) -> String {
        let state = self.lock();
        let gauges = Gauges {
            connections: state.links.len(),
            sessions: state.core.session_count(),
            turns: state.core.turn_count(),
        };
        state.metrics.render(gauges)
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.lock().links.len()
    }

    /// Stops everything: running replies end with a cancelled final frame, sockets close with
    /// 1001, and the store gets the last state before this returns.
    pub async fn shutdown(self: &Arc<Self>, grace: Duration) {
        {
            let mut state = self.lock();
            state.shutting_down = true;
            let now = self.now();
            state.core.handle_shutdown(now);
            self.drain(&mut state);
            for (_, handle) in state.running.drain() {
                handle.abort();
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let wait = self.drained.notified();
            if self.lock().links.is_empty() {
                break;
            }
            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                break;
            }
        }
        self.lock().sessions_dirty = true;
        self.save_sessions();
        self.store.flush().await;
    }
}
