//! The offline agent: deterministic, streams its reply in several chunks, and answers from the
//! session's stored history so multi-turn conversations visibly work without any model.

use std::fmt::Write as _;
use std::time::Duration;

use clawsocket_core::{ChatType, MediaKind};

use super::{Agent, AgentFuture, AgentOutput, AgentRun};
use crate::store::StoredMessage;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct BuiltinAgent {
    delay: Duration,
}

impl BuiltinAgent {
    /// `delay_ms` between streamed chunks.
    pub fn new(delay_ms: u64) -> BuiltinAgent {
        BuiltinAgent {
            delay: Duration::from_millis(delay_ms),
        }
    }
}

impl Agent for BuiltinAgent {
    fn run(&self, run: AgentRun, output: AgentOutput) -> AgentFuture {
        let delay = self.delay;
        Box::pin(async move {
            let reply = compose(&run);
            for chunk in chunks(&reply, 4) {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                output.delta(&chunk);
            }
            Ok(None)
        })
    }
}

/// Splits `text` into pieces of about `words` words each, keeping every character.
fn chunks(text: &str, words: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut count = 0;
    for piece in text.split_inclusive(' ') {
        current.push_str(piece);
        count += 1;
        if count == words {
            out.push(std::mem::take(&mut current));
            count = 0;
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The name a user gave in "my name is X", if any.
fn stated_name(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let at = lower.find("my name is ")?;
    let rest = text.get(at + "my name is ".len()..)?;
    let name: String = rest
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

fn asks_name(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("what is my name")
        || lower.contains("what's my name")
        || lower.contains("who am i")
}

fn earlier_user_messages(
    history: &[StoredMessage],
) -> impl DoubleEndedIterator<Item = &StoredMessage> {
    history.iter().filter(|m| m.role == "user")
}

fn compose(run: &AgentRun) -> String {
    let turn = &run.turn;
    let content = turn.content().trim();
    let who = turn.sender_name().unwrap_or_else(|| turn.sender_id());
    let mut reply = String::new();

    if asks_name(content) {
        match earlier_user_messages(&run.history)
            .rev()
            .find_map(|m| stated_name(&m.content))
        {
            Some(name) => {
                let _ = write!(
                    reply,
                    "Your name is {name}. You told me earlier in this conversation."
                );
            }
            None => reply
                .push_str("You have not told me your name yet. Tell me with \"My name is ...\"."),
        }
    } else if let Some(name) = stated_name(content) {
        let _ = write!(
            reply,
            "Nice to meet you, {name}! I will remember your name."
        );
    } else {
        let _ = write!(reply, "Hello {who}! You said: \"{content}\".");
        if let Some(previous) = earlier_user_messages(&run.history).next_back() {
            let _ = write!(reply, " You said earlier: \"{}\".", previous.content.trim());
        }
    }

    if let Some(quoted) = turn.reply_to_body() {
        let _ = write!(reply, " You are replying to: \"{quoted}\".");
    }
    if turn.chat_type() == ChatType::Group {
        let group = turn
            .group_subject()
            .or(turn.group_id())
            .unwrap_or("this group");
        let _ = write!(reply, " (Group chat: {group}.)");
    }
    if let Some(data) = turn.custom_data() {
        let _ = write!(reply, " Custom data received: {data}.");
    }
    for media in turn.media() {
        let kind = match media.kind {
            MediaKind::Url => "link",
            MediaKind::Path => "file",
        };
        let _ = write!(reply, " Attachment ({kind}): {}.", media.location);
    }
    let count = earlier_user_messages(&run.history).count() + 1;
    let _ = write!(
        reply,
        " [builtin agent, message {count} in session {}]",
        turn.session_key()
    );
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_every_character() {
        let text = "one two three four five six seven eight nine";
        let parts = chunks(text, 4);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn names_are_found() {
        assert_eq!(stated_name("My name is John").as_deref(), Some("John"));
        assert_eq!(
            stated_name("hi, my name is Ada Lovelace.").as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(stated_name("What is my name?"), None);
        assert!(asks_name("What is my name?"));
    }
}
