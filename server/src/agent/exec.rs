//! One subprocess per turn: the turn's canonical JSON (`Turn::to_json`) on stdin, each stdout
//! line a streamed chunk, exit status 0 the final reply (the lines joined by `\n`), anything
//! else an error carrying the last line of stderr. The child runs in the agent's workspace and
//! is killed on timeout or when the turn is cancelled (the future is dropped).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use clawsocket_core::AgentFailure;

use super::{Agent, AgentError, AgentFuture, AgentOutput, AgentRun};
use crate::settings::ExecSettings;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct ExecAgent {
    settings: ExecSettings,
}

impl ExecAgent {
    /// An exec backend with this command line and timeout.
    pub fn new(settings: ExecSettings) -> ExecAgent {
        ExecAgent { settings }
    }
}

impl Agent for ExecAgent {
    fn run(&self, run: AgentRun, output: AgentOutput) -> AgentFuture {
        let settings = self.settings.clone();
        Box::pin(async move {
            let timeout = Duration::from_millis(settings.timeout_ms);
            match tokio::time::timeout(timeout, run_child(&settings, run, output)).await {
                Ok(result) => result.map_err(AgentError::from),
                Err(_) => Err(AgentError::Failed {
                    failure: AgentFailure::TimedOut,
                    message: format!("Agent process timed out after {} ms", settings.timeout_ms),
                }),
            }
        })
    }

    fn history_messages(&self) -> usize {
        0
    }
}

async fn run_child(
    settings: &ExecSettings,
    run: AgentRun,
    output: AgentOutput,
) -> Result<Option<String>, String> {
    if let Err(e) = std::fs::create_dir_all(&run.workspace) {
        return Err(format!("Agent workspace unavailable: {e}"));
    }
    let mut child = Command::new(&settings.command[0])
        .args(&settings.command[1..])
        .current_dir(&run.workspace)
        .env("CLAWSOCKET_TURN_ID", run.turn.id().0.to_string())
        .env("CLAWSOCKET_SESSION_KEY", run.turn.session_key())
        .env("CLAWSOCKET_AGENT_ID", run.turn.agent_id())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            tracing::error!(program = %settings.command[0], error = %e, "exec agent could not start");
            "Agent process could not start".to_owned()
        })?;

    let input = run.turn.to_json();
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let writer = tokio::spawn(async move {
        // A child that ignores stdin closes it early; that is not an error.
        let _ = stdin.write_all(input.as_bytes()).await;
        let _ = stdin.write_all(b"\n").await;
    });
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let errors = tokio::spawn(async move {
        // Read all of it (a child blocked on a full stderr pipe would hang) but keep the tail.
        let mut tail = Vec::new();
        let mut chunk = vec![0u8; 4096];
        while let Ok(n) = stderr.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&chunk[..n]);
            if tail.len() > 16 * 1024 {
                tail.drain(..tail.len() - 8 * 1024);
            }
        }
        String::from_utf8_lossy(&tail).into_owned()
    });

    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut first = true;
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| format!("Agent output unreadable: {e}"))?
    {
        if first {
            output.delta(&line);
            first = false;
        } else {
            output.delta(&format!("\n{line}"));
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("Agent process failed: {e}"))?;
    let _ = writer.await;
    let stderr_text = errors.await.unwrap_or_default();
    if status.success() {
        Ok(None)
    } else {
        let last = stderr_text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        let code = status.code().map_or_else(
            || "killed by a signal".to_owned(),
            |c| format!("exit status {c}"),
        );
        Err(if last.is_empty() {
            format!("Agent process failed ({code})")
        } else {
            format!("Agent process failed ({code}): {last}")
        })
    }
}
