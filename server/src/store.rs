//! The embedded SQLite store: history, dynamic agents, pairing requests and approvals, and the
//! core's exported sessions (the replay buffers). One thread owns the connection; the server
//! talks to it through a channel, so no async task ever blocks on the disk. WAL mode and a busy
//! timeout make concurrent writers (the `pairing approve` command) safe.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

/// One stored message of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Row id (the history cursor).
    pub row: i64,
    /// Message id the client or the core gave.
    pub message_id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// Sender of a user message.
    pub sender_id: Option<String>,
    /// Display name of the sender.
    pub sender_name: Option<String>,
    /// Text.
    pub content: String,
    /// Unix milliseconds.
    pub at: u64,
}

/// A user message to record when its turn starts.
#[derive(Debug, Clone)]
pub struct UserMessage {
    /// Session key.
    pub session_key: String,
    /// Message id.
    pub message_id: String,
    /// Sender.
    pub sender_id: String,
    /// Display name.
    pub sender_name: Option<String>,
    /// Text as sent.
    pub content: String,
    /// Unix milliseconds.
    pub at: u64,
}

/// A pairing request as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingRow {
    /// Code to approve.
    pub code: String,
    /// Sender waiting.
    pub sender_id: String,
    /// Their name.
    pub sender_name: Option<String>,
    /// `pending`, `approved` (by the operator, not yet applied) or `applied`.
    pub status: String,
}

enum Op {
    BeginTurn {
        message: UserMessage,
        context_limit: usize,
        reply: oneshot::Sender<Vec<StoredMessage>>,
    },
    Reply {
        session_key: String,
        message_id: String,
        outcome: String,
        text: String,
        at: u64,
    },
    History {
        session_key: String,
        limit: u32,
        before: Option<i64>,
        reply: oneshot::Sender<Result<Vec<StoredMessage>, String>>,
    },
    SaveSessions(String),
    AgentCreated {
        agent_id: String,
        user_id: String,
        workspace: String,
    },
    PairingRequested {
        code: String,
        sender_id: String,
        sender_name: Option<String>,
    },
    SenderAllowed {
        code: String,
        sender_id: String,
    },
    TakeApprovals(oneshot::Sender<Vec<PairingRow>>),
    Flush(oneshot::Sender<()>),
}

/// Handle to the store thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    ops: mpsc::Sender<Op>,
}

/// What the server restores at start.
#[derive(Debug, Default)]
pub struct Restored {
    /// The core's last exported sessions.
    pub sessions: Option<String>,
    /// Dynamic agents already provisioned: (agent id, workspace).
    pub agents: Vec<(String, String)>,
    /// Senders an operator approved.
    pub allowed_senders: Vec<String>,
}

/// Opens (creating if needed) the database in `dir` with the schema in place.
pub fn open_database(dir: &Path) -> Result<Connection, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("data dir {}: {e}", dir.display()))?;
    let path = database_path(dir);
    let db = Connection::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    db.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    db.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=NORMAL;
         CREATE TABLE IF NOT EXISTS messages (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             session_key TEXT NOT NULL,
             message_id TEXT NOT NULL,
             role TEXT NOT NULL,
             sender_id TEXT,
             sender_name TEXT,
             content TEXT NOT NULL,
             outcome TEXT,
             at INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS messages_by_session ON messages(session_key, id);
         CREATE TABLE IF NOT EXISTS agents (
             agent_id TEXT PRIMARY KEY,
             user_id TEXT NOT NULL,
             workspace TEXT NOT NULL,
             created_at INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS pairing (
             code TEXT PRIMARY KEY,
             sender_id TEXT NOT NULL,
             sender_name TEXT,
             status TEXT NOT NULL,
             updated_at INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS allowed_senders (
             sender_id TEXT PRIMARY KEY,
             approved_at INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS state (
             name TEXT PRIMARY KEY,
             value TEXT NOT NULL);",
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(db)
}

/// `<dir>/clawsocket.db`.
pub fn database_path(dir: &Path) -> PathBuf {
    dir.join("clawsocket.db")
}

/// Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Store {
    /// Opens the store in `dir`, reads what must be restored and starts the writer thread.
    pub fn open(dir: &Path) -> Result<(Store, Restored, JoinHandle<()>), String> {
        let db = open_database(dir)?;
        let restored = restore(&db).map_err(|e| format!("reading the store: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("clawsocket-store".into())
            .spawn(move || run(db, rx))
            .map_err(|e| e.to_string())?;
        Ok((Store { ops: tx }, restored, thread))
    }

    fn send(&self, op: Op) {
        // The thread only stops when every handle is gone; a failed send means shutdown.
        let _ = self.ops.send(op);
    }

    /// Returns the session's recent messages (oldest first), then records the new one.
    pub async fn begin_turn(
        &self,
        message: UserMessage,
        context_limit: usize,
    ) -> Vec<StoredMessage> {
        let (reply, rx) = oneshot::channel();
        self.send(Op::BeginTurn {
            message,
            context_limit,
            reply,
        });
        rx.await.unwrap_or_default()
    }

    /// Records how a turn ended.
    pub fn record_reply(
        &self,
        session_key: String,
        message_id: String,
        outcome: &str,
        text: String,
    ) {
        self.send(Op::Reply {
            session_key,
            message_id,
            outcome: outcome.to_owned(),
            text,
            at: unix_ms(),
        });
    }

    /// A page of history, newest last; `before` is a row id cursor.
    pub async fn history(
        &self,
        session_key: String,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<StoredMessage>, String> {
        let (reply, rx) = oneshot::channel();
        self.send(Op::History {
            session_key,
            limit,
            before,
            reply,
        });
        rx.await.map_err(|_| "store stopped".to_owned())?
    }

    /// Persists the core's exported sessions.
    pub fn save_sessions(&self, exported: String) {
        self.send(Op::SaveSessions(exported));
    }

    /// Records a provisioned dynamic agent.
    pub fn agent_created(&self, agent_id: String, user_id: String, workspace: String) {
        self.send(Op::AgentCreated {
            agent_id,
            user_id,
            workspace,
        });
    }

    /// Records a pairing request for the operator.
    pub fn pairing_requested(&self, code: String, sender_id: String, sender_name: Option<String>) {
        self.send(Op::PairingRequested {
            code,
            sender_id,
            sender_name,
        });
    }

    /// Records that a sender is allowed (and its code applied).
    pub fn sender_allowed(&self, code: String, sender_id: String) {
        self.send(Op::SenderAllowed { code, sender_id });
    }

    /// Operator approvals not applied yet (status `approved`).
    pub async fn take_approvals(&self) -> Vec<PairingRow> {
        let (reply, rx) = oneshot::channel();
        self.send(Op::TakeApprovals(reply));
        rx.await.unwrap_or_default()
    }

    /// Waits until every earlier operation is on disk.
    pub async fn flush(&self) {
        let (reply, rx) = oneshot::channel();
        self.send(Op::Flush(reply));
        let _ = rx.await;
    }
}

fn restore(db: &Connection) -> rusqlite::Result<Restored> {
    let sessions = db
        .query_row("SELECT value FROM state WHERE name = 'sessions'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let mut agents = Vec::new();
    let mut stmt = db.prepare("SELECT agent_id, workspace FROM agents ORDER BY created_at")?;
    for row in stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
        agents.push(row?);
    }
    let mut allowed_senders = Vec::new();
    let mut stmt = db.prepare("SELECT sender_id FROM allowed_senders")?;
    for row in stmt.query_map([], |r| r.get(0))? {
        allowed_senders.push(row?);
    }
    Ok(Restored {
        sessions,
        agents,
        allowed_senders,
    })
}

fn run(db: Connection, ops: mpsc::Receiver<Op>) {
    // Everything queued while the previous batch ran is applied in one transaction: under
    // load that turns thousands of small commits into a few.
    while let Ok(first) = ops.recv() {
        let batch = db.execute_batch("BEGIN").is_ok();
        let mut next = Some(first);
        let mut count = 0;
        let mut flushed = Vec::new();
        while let Some(op) = next.take() {
            match op {
                // Answered after the commit: "flushed" means on disk.
                Op::Flush(reply) => flushed.push(reply),
                op => {
                    if let Err(e) = apply(&db, op) {
                        tracing::error!(error = %e, "store write failed");
                    }
                }
            }
            count += 1;
            if count < 1024 {
                next = ops.try_recv().ok();
            }
        }
        if batch {
            if let Err(e) = db.execute_batch("COMMIT") {
                tracing::error!(error = %e, "store commit failed");
            }
        }
        for reply in flushed {
            let _ = reply.send(());
        }
    }
}

fn read_messages(rows: &mut rusqlite::Rows<'_>) -> rusqlite::Result<Vec<StoredMessage>> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(StoredMessage {
            row: r.get(0)?,
            message_id: r.get(1)?,
            role: r.get(2)?,
            sender_id: r.get(3)?,
            sender_name: r.get(4)?,
            content: r.get(5)?,
            at: r.get::<_, i64>(6)? as u64,
        });
    }
    out.reverse();
    Ok(out)
}

const SELECT_MESSAGES: &str =
    "SELECT id, message_id, role, sender_id, sender_name, content, at FROM messages";

fn apply(db: &Connection, op: Op) -> rusqlite::Result<()> {
    match op {
        Op::BeginTurn {
            message,
            context_limit,
            reply,
        } => {
            let mut stmt = db.prepare_cached(&format!(
                "{SELECT_MESSAGES} WHERE session_key = ?1 AND (outcome IS NULL OR outcome != 'failed') ORDER BY id DESC LIMIT ?2"
            ))?;
            let context = read_messages(
                &mut stmt.query(params![message.session_key, context_limit as i64])?,
            )?;
            let _ = reply.send(context);
            db.prepare_cached(
                "INSERT INTO messages (session_key, message_id, role, sender_id, sender_name, content, at)
                 VALUES (?1, ?2, 'user', ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                message.session_key,
                message.message_id,
                message.sender_id,
                message.sender_name,
                message.content,
                message.at as i64
            ])?;
        }
        Op::Reply {
            session_key,
            message_id,
            outcome,
            text,
            at,
        } => {
            db.prepare_cached(
                "INSERT INTO messages (session_key, message_id, role, content, outcome, at)
                 VALUES (?1, ?2, 'assistant', ?3, ?4, ?5)",
            )?
            .execute(params![session_key, message_id, text, outcome, at as i64])?;
        }
        Op::History {
            session_key,
            limit,
            before,
            reply,
        } => {
            let result = db
                .prepare_cached(&format!(
                    "{SELECT_MESSAGES} WHERE session_key = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
                ))
                .and_then(|mut stmt| {
                    read_messages(&mut stmt.query(params![
                        session_key,
                        before.unwrap_or(i64::MAX),
                        i64::from(limit)
                    ])?)
                })
                .map_err(|e| e.to_string());
            let _ = reply.send(result);
        }
        Op::SaveSessions(value) => {
            db.execute(
                "INSERT INTO state (name, value) VALUES ('sessions', ?1)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                params![value],
            )?;
        }
        Op::AgentCreated {
            agent_id,
            user_id,
            workspace,
        } => {
            db.execute(
                "INSERT OR IGNORE INTO agents (agent_id, user_id, workspace, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![agent_id, user_id, workspace, unix_ms() as i64],
            )?;
        }
        Op::PairingRequested {
            code,
            sender_id,
            sender_name,
        } => {
            db.execute(
                "INSERT INTO pairing (code, sender_id, sender_name, status, updated_at) VALUES (?1, ?2, ?3, 'pending', ?4)
                 ON CONFLICT(code) DO NOTHING",
                params![code, sender_id, sender_name, unix_ms() as i64],
            )?;
        }
        Op::SenderAllowed { code, sender_id } => {
            let now = unix_ms() as i64;
            db.execute(
                "INSERT OR IGNORE INTO allowed_senders (sender_id, approved_at) VALUES (?1, ?2)",
                params![sender_id, now],
            )?;
            db.execute(
                "UPDATE pairing SET status = 'applied', updated_at = ?2 WHERE code = ?1",
                params![code, now],
            )?;
        }
        Op::TakeApprovals(reply) => {
            let rows = list_pairing(db, Some("approved"))?;
            let _ = reply.send(rows);
        }
        Op::Flush(reply) => {
            let _ = reply.send(());
        }
    }
    Ok(())
}

/// Pairing requests, optionally only those with `status`.
pub fn list_pairing(db: &Connection, status: Option<&str>) -> rusqlite::Result<Vec<PairingRow>> {
    let mut stmt = db.prepare(
        "SELECT code, sender_id, sender_name, status FROM pairing WHERE ?1 IS NULL OR status = ?1 ORDER BY updated_at",
    )?;
    let rows = stmt.query_map(params![status], |r| {
        Ok(PairingRow {
            code: r.get(0)?,
            sender_id: r.get(1)?,
            sender_name: r.get(2)?,
            status: r.get(3)?,
        })
    })?;
    rows.collect()
}

/// Marks a pending code approved (the operator command); the running server applies it.
pub fn approve_pairing(db: &Connection, code: &str) -> Result<PairingRow, String> {
    let code = code.trim().to_ascii_uppercase();
    let changed = db
        .execute(
            "UPDATE pairing SET status = 'approved', updated_at = ?2 WHERE code = ?1 AND status = 'pending'",
            params![code, unix_ms() as i64],
        )
        .map_err(|e| e.to_string())?;
    let row = list_pairing(db, None)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|r| r.code == code)
        .ok_or_else(|| format!("no pairing request with code {code}"))?;
    if changed == 0 && row.status == "pending" {
        return Err(format!("could not approve {code}"));
    }
    Ok(row)
}
