//! Agent backends behind one trait. The hub starts one run per `RunTurn` event, feeds the
//! streamed text back into the core, and aborts the run on `CancelTurn` (dropping the future
//! kills an exec child and closes an HTTP stream).

mod builtin;
mod exec;
mod openai;
mod openclaw;
mod stub;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use clawsocket_core::{AgentFailure, HistoryPage, Turn};

pub use builtin::BuiltinAgent;
pub use exec::ExecAgent;
pub use openai::OpenAiAgent;
pub use openclaw::OpenClawAgent;
pub use stub::StubAgent;

use crate::settings::AgentSettings;
use crate::store::StoredMessage;

/// Everything a backend gets for one turn.
#[derive(Debug)]
pub struct AgentRun {
    /// The turn as the core built it.
    pub turn: Turn,
    /// Earlier messages of the session, oldest first (from the store).
    pub history: Vec<StoredMessage>,
    /// The agent's workspace (the exec backend's working directory).
    pub workspace: PathBuf,
}

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where a backend streams its text: [`AgentOutput::delta`] passes only the new part,
/// [`AgentOutput::text`] the whole text so far (backends that stream cumulative text).
#[derive(Clone)]
pub struct AgentOutput {
    delta: Sink,
    text: Option<Sink>,
}

impl std::fmt::Debug for AgentOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentOutput")
    }
}

impl AgentOutput {
    /// Wraps the hub's delta sink.
    pub fn new(sink: impl Fn(&str) + Send + Sync + 'static) -> AgentOutput {
        AgentOutput {
            delta: Arc::new(sink),
            text: None,
        }
    }

    /// Adds the hub's sink for whole texts (which may rewrite what was streamed).
    pub fn with_text(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> AgentOutput {
        self.text = Some(Arc::new(sink));
        self
    }

    /// Streams more text.
    pub fn delta(&self, text: &str) {
        (self.delta)(text)
    }

    /// The whole text so far; `streamed` is what this backend already passed, used to
    /// stream the new suffix when the hub gave no whole-text sink.
    pub fn text(&self, text: &str, streamed: &str) {
        match &self.text {
            Some(sink) => sink(text),
            None => {
                if let Some(suffix) = text.strip_prefix(streamed) {
                    self.delta(suffix)
                }
            }
        }
    }
}

/// Why a run ended without a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentError {
    /// The agent failed: the client gets `chat.error` with the failure's code and `message`.
    Failed {
        /// Which code the client sees (`agent_error`, `agent_timeout`, `rate_limited`).
        failure: AgentFailure,
        /// Human-readable reason.
        message: String,
    },
    /// The run was stopped on the agent's side: what was streamed stands as a cancelled reply.
    Cancelled,
}

impl From<String> for AgentError {
    fn from(message: String) -> AgentError {
        AgentError::Failed {
            failure: AgentFailure::Failed,
            message,
        }
    }
}

impl From<&str> for AgentError {
    fn from(message: &str) -> AgentError {
        AgentError::from(message.to_owned())
    }
}

/// A future a backend returns: the final text (`None`: the streamed text is final) or why
/// there is none.
pub type AgentFuture = Pin<Box<dyn Future<Output = Result<Option<String>, AgentError>> + Send>>;

/// A page of the session's history from the backend's own transcript.
pub type HistoryFuture = Pin<Box<dyn Future<Output = Result<HistoryPage, String>> + Send>>;

/// One agent backend.
pub trait Agent: Send + Sync + std::fmt::Debug {
    /// Produces the reply to one turn, streaming through `output`.
    fn run(&self, run: AgentRun, output: AgentOutput) -> AgentFuture;

    /// How many earlier session messages the backend wants in [`AgentRun::history`].
    fn history_messages(&self) -> usize {
        50
    }

    /// A `chat.history` page when the backend keeps the transcript itself (an OpenClaw
    /// gateway); `None` lets the server's store answer.
    fn history(
        &self,
        _session_key: &str,
        _limit: u32,
        _cursor: Option<&str>,
    ) -> Option<HistoryFuture> {
        None
    }
}

/// The backend the settings name.
pub fn from_settings(settings: &AgentSettings) -> Result<Arc<dyn Agent>, String> {
    Ok(match settings {
        AgentSettings::Builtin { delay_ms } => Arc::new(BuiltinAgent::new(*delay_ms)),
        AgentSettings::OpenAi(s) => Arc::new(OpenAiAgent::new(s.clone())?),
        AgentSettings::Exec(s) => Arc::new(ExecAgent::new(s.clone())),
        AgentSettings::OpenClaw(s) => Arc::new(OpenClawAgent::new(s.clone())?),
        AgentSettings::Stub {
            chunks,
            text,
            delay_ms,
        } => Arc::new(StubAgent::new(*chunks, text.clone(), *delay_ms)),
    })
}
