//! A fixed reply streamed in a fixed number of chunks: the load generator's agent, and a
//! predictable peer for client development. It reads no history.

use std::time::Duration;

use super::{Agent, AgentFuture, AgentOutput, AgentRun};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct StubAgent {
    chunks: u32,
    text: String,
    delay: Duration,
}

impl StubAgent {
    /// `chunks` deltas of `text`, `delay_ms` apart.
    pub fn new(chunks: u32, text: String, delay_ms: u64) -> StubAgent {
        StubAgent {
            chunks,
            text,
            delay: Duration::from_millis(delay_ms),
        }
    }
}

impl Agent for StubAgent {
    fn run(&self, _run: AgentRun, output: AgentOutput) -> AgentFuture {
        let agent = self.clone();
        Box::pin(async move {
            for _ in 0..agent.chunks {
                if !agent.delay.is_zero() {
                    tokio::time::sleep(agent.delay).await;
                }
                output.delta(&agent.text);
            }
            Ok(None)
        })
    }

    fn history_messages(&self) -> usize {
        0
    }
}
