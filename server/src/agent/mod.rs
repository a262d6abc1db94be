//! Agent backends behind one trait. The hub starts one run per `RunTurn` event, feeds the
//! streamed text back into the core, and aborts the run on `CancelTurn` (dropping the future
//! kills an exec child and closes an HTTP stream).

mod builtin;
mod exec;
mod openai;
mod stub;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use clawsocket_core::Turn;

pub use builtin::BuiltinAgent;
pub use exec::ExecAgent;
pub use openai::OpenAiAgent;
pub use stub::StubAgent;

use crate::settings::AgentSettings;
use crate::store::StoredMessage;

/// Everything a backend gets for one turn.
#[derive(Debug)]
pub struct AgentRun {
    /// The turn as the core built it.
    pub turn: Box<Turn>,
    /// Earlier messages of the session, oldest first (from the store).
    pub history: Vec<StoredMessage>,
    /// The agent's workspace (the exec backend's working directory).
    pub workspace: PathBuf,
}

/// Where a backend streams its text: each call passes only the new part.
#[derive(Clone)]
pub struct AgentOutput(Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for AgentOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentOutput")
    }
}

impl AgentOutput {
    /// Wraps the hub's delta sink.
    pub fn new(sink: impl Fn(&str) + Send + Sync + 'static) -> AgentOutput {
        AgentOutput(Arc::new(sink))
    }

    /// Streams more text.
    pub fn delta(&self, text: &str) {
        (self.0)(text)
    }
}

/// A future a backend returns: the final text (`None`: the streamed text is final) or an error.
pub type AgentFuture = Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send>>;

/// One agent backend.
pub trait Agent: Send + Sync + std::fmt::Debug {
    /// Produces the reply to one turn, streaming through `output`.
    fn run(&self, run: AgentRun, output: AgentOutput) -> AgentFuture;

    /// How many earlier session messages the backend wants in [`AgentRun::history`].
    fn history_messages(&self) -> usize {
        50
    }
}

/// The backend the settings name.
pub fn from_settings(settings: &AgentSettings) -> Result<Arc<dyn Agent>, String> {
    Ok(match settings {
        AgentSettings::Builtin { delay_ms } => Arc::new(BuiltinAgent::new(*delay_ms)),
        AgentSettings::OpenAi(s) => Arc::new(OpenAiAgent::new(s.clone())?),
        AgentSettings::Exec(s) => Arc::new(ExecAgent::new(s.clone())),
        AgentSettings::Stub {
            chunks,
            text,
            delay_ms,
        } => Arc::new(StubAgent::new(*chunks, text.clone(), *delay_ms)),
    })
}
