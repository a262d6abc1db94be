//! A conversation: its sequence counter, the connections watching it, its turn queue, the
//! message ids it has seen, and the replay buffer that lets a client resume without loss.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::{json, Value};

use crate::error::ErrorCode;
use crate::event::{ConnectionId, TurnId};
use crate::outbound::{self, ObjectWriter, ResponseFrame, Seq};

/// How a v2 connection wants `chat.stream` content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// The whole text so far (the seed's behaviour).
    Cumulative,
    /// Only the text added since the previous stream frame.
    Delta,
}

/// A frame that belongs to a session's ordered history (everything with a `seq`).
/// Stored mode-neutral: a stream frame keeps its delta and where it starts in the reply.
/// Built borrowing the caller's strings ([`LiveFrame`], nothing to drop); copied only when
/// kept for replay ([`StoredFrame`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SessionFrame<S> {
    Ack {
        message_id: S,
        sender_id: S,
    },
    Typing {
        message_id: S,
    },
    Stream {
        message_id: S,
        start: usize,
        delta: S,
        /// The text replaces everything streamed before (an agent revised its reply).
        replace: bool,
    },
    Response {
        message_id: S,
        content: S,
        index: usize,
        chunks: usize,
        cancelled: bool,
    },
    Error {
        message_id: S,
        code: ErrorCode,
        text: S,
        /// The reply text produced before the failure (not sent; used to rebuild cumulative
        /// stream frames on replay).
        partial: S,
    },
}

/// A frame being emitted, borrowing its text.
pub(crate) type LiveFrame<'a> = SessionFrame<&'a str>;
/// A frame kept in a replay buffer.
pub(crate) type StoredFrame = SessionFrame<Box<str>>;

impl LiveFrame<'_> {
    /// An owned copy, for the replay buffer.
    pub(crate) fn to_stored(&self) -> StoredFrame {
        self.map(|s| Box::from(*s))
    }
}

impl<S: AsRef<str>> SessionFrame<S> {
    /// The same frame with every string converted by `f`.
    fn map<'s, T>(&'s self, f: impl Fn(&'s S) -> T) -> SessionFrame<T> {
        match self {
            SessionFrame::Ack {
                message_id,
                sender_id,
            } => SessionFrame::Ack {
                message_id: f(message_id),
                sender_id: f(sender_id),
            },
            SessionFrame::Typing { message_id } => SessionFrame::Typing {
                message_id: f(message_id),
            },
            SessionFrame::Stream {
                message_id,
                start,
                delta,
                replace,
            } => SessionFrame::Stream {
                message_id: f(message_id),
                start: *start,
                delta: f(delta),
                replace: *replace,
            },
            SessionFrame::Response {
                message_id,
                content,
                index,
                chunks,
                cancelled,
            } => SessionFrame::Response {
                message_id: f(message_id),
                content: f(content),
                index: *index,
                chunks: *chunks,
                cancelled: *cancelled,
            },
            SessionFrame::Error {
                message_id,
                code,
                text,
                partial,
            } => SessionFrame::Error {
                message_id: f(message_id),
                code: *code,
                text: f(text),
                partial: f(partial),
            },
        }
    }

    /// The frame borrowing this one's strings.
    pub(crate) fn as_live(&self) -> LiveFrame<'_> {
        self.map(|s| s.as_ref())
    }

    fn approx_bytes(&self) -> usize {
        64 + match self {
            SessionFrame::Ack {
                message_id,
                sender_id,
            } => message_id.as_ref().len() + sender_id.as_ref().len(),
            SessionFrame::Typing { message_id } => message_id.as_ref().len(),
            SessionFrame::Stream {
                message_id, delta, ..
            } => message_id.as_ref().len() + delta.as_ref().len(),
            SessionFrame::Response {
                message_id,
                content,
                ..
            } => message_id.as_ref().len() + content.as_ref().len(),
            SessionFrame::Error {
                message_id,
                text,
                partial,
                ..
            } => message_id.as_ref().len() + text.as_ref().len() + partial.as_ref().len(),
        }
    }

    fn to_value(&self, seq: u64) -> Value {
        match self {
            SessionFrame::Ack {
                message_id,
                sender_id,
            } => {
                json!({"seq": seq, "kind": "ack", "messageId": message_id.as_ref(), "senderId": sender_id.as_ref()})
            }
            SessionFrame::Typing { message_id } => {
                json!({"seq": seq, "kind": "typing", "messageId": message_id.as_ref()})
            }
            SessionFrame::Stream {
                message_id,
                start,
                delta,
                replace,
            } => json!({"seq": seq, "kind": "stream", "messageId": message_id.as_ref(),
                        "start": start, "delta": delta.as_ref(), "replace": replace}),
            SessionFrame::Response {
                message_id,
                content,
                index,
                chunks,
                cancelled,
            } => {
                json!({"seq": seq, "kind": "response", "messageId": message_id.as_ref(), "content": content.as_ref(),
                        "index": index, "chunks": chunks, "cancelled": cancelled})
            }
            SessionFrame::Error {
                message_id,
                code,
                text,
                partial,
            } => {
                json!({"seq": seq, "kind": "error", "messageId": message_id.as_ref(), "code": code.as_str(),
                        "text": text.as_ref(), "partial": partial.as_ref()})
            }
        }
    }
}

impl LiveFrame<'_> {
    /// Renders the frame. `reply` is the reply's text up to at least the end of this frame,
    /// needed only for a stream frame in cumulative mode.
    pub(crate) fn render(&self, seq: Seq<'_>, mode: StreamMode, reply: Option<&str>) -> String {
        let mut out = String::new();
        self.render_into(&mut out, seq, mode, reply);
        out
    }

    /// [`SessionFrame::render`], appended to `out`.
    pub(crate) fn render_into(
        &self,
        out: &mut String,
        seq: Seq<'_>,
        mode: StreamMode,
        reply: Option<&str>,
    ) {
        match self {
            SessionFrame::Ack {
                message_id,
                sender_id,
            } => out.push_str(
                &ObjectWriter::frame("chat.ack", 48 + message_id.len())
                    .str("messageId", message_id)
                    .str("senderId", sender_id)
                    .seq(seq)
                    .finish(),
            ),
            SessionFrame::Typing { message_id } => outbound::typing(out, message_id, seq),
            SessionFrame::Stream {
                message_id,
                start,
                delta,
                replace,
            } => {
                let content = match (mode, reply) {
                    (StreamMode::Cumulative, Some(text)) => {
                        text.get(..start + delta.len()).unwrap_or(text)
                    }
                    _ => delta,
                };
                if *replace && mode == StreamMode::Delta {
                    out.push_str(
                        &ObjectWriter::frame("chat.stream", 64 + message_id.len() + content.len())
                            .str("messageId", message_id)
                            .str("content", content)
                            .bool("done", false)
                            .bool("replace", true)
                            .seq(seq)
                            .finish(),
                    );
                } else {
                    outbound::stream(out, message_id, content, seq);
                }
            }
            SessionFrame::Response {
                message_id,
                content,
                index,
                chunks,
                cancelled,
            } => outbound::response(
                out,
                &ResponseFrame {
                    message_id,
                    content,
                    index: *index,
                    chunks: *chunks,
                    cancelled: *cancelled,
                    seq,
                },
            ),
            SessionFrame::Error {
                message_id,
                code,
                text,
                ..
            } => out.push_str(&outbound::error(
                *code,
                text,
                &outbound::ErrorExtras {
                    message_id: Some(message_id),
                    seq,
                    ..Default::default()
                },
            )),
        }
    }
}

impl StoredFrame {
    fn from_value(v: &Value) -> Option<(u64, StoredFrame)> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(Box::from);
        let n = |k: &str| v.get(k).and_then(Value::as_u64);
        let seq = n("seq")?;
        let message_id = s("messageId")?;
        let frame = match v.get("kind")?.as_str()? {
            "ack" => SessionFrame::Ack {
                message_id,
                sender_id: s("senderId")?,
            },
            "typing" => SessionFrame::Typing { message_id },
            "stream" => SessionFrame::Stream {
                message_id,
                start: usize::try_from(n("start")?).ok()?,
                delta: s("delta")?,
                replace: v.get("replace")?.as_bool()?,
            },
            "response" => SessionFrame::Response {
                message_id,
                content: s("content")?,
                index: usize::try_from(n("index")?).ok()?,
                chunks: usize::try_from(n("chunks")?).ok()?,
                cancelled: v.get("cancelled")?.as_bool()?,
            },
            "error" => SessionFrame::Error {
                message_id,
                code: ErrorCode::from_wire(v.get("code")?.as_str()?)?,
                text: s("text")?,
                partial: s("partial")?,
            },
            _ => return None,
        };
        Some((seq, frame))
    }
}

/// The last frames of a session, bounded by count and bytes.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    entries: VecDeque<(u64, StoredFrame)>,
    bytes: usize,
}

/// A resume request the buffer cannot serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gap {
    /// Oldest seq still held (next seq when empty).
    pub oldest: u64,
}

impl Replay {
    fn push(&mut self, seq: u64, frame: StoredFrame, max_frames: usize, max_bytes: usize) {
        if max_frames == 0 || max_bytes == 0 {
            return;
        }
        self.bytes += frame.approx_bytes();
        self.entries.push_back((seq, frame));
        while self.entries.len() > 1 && (self.entries.len() > max_frames || self.bytes > max_bytes)
        {
            if let Some((_, old)) = self.entries.pop_front() {
                self.bytes -= old.approx_bytes();
            }
        }
    }
}

/// Message ids a session has accepted recently (for idempotent sends), with their ack seq.
#[derive(Debug, Default)]
pub(crate) struct RecentIds {
    by_id: BTreeMap<String, u64>,
    order: VecDeque<String>,
}

/// How many message ids a session remembers.
const RECENT_IDS: usize = 256;

impl RecentIds {
    pub(crate) fn get(&self, id: &str) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn insert(&mut self, id: &str, ack_seq: u64) {
        if self.order.len() >= RECENT_IDS {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
        self.order.push_back(id.into());
        self.by_id.insert(id.into(), ack_seq);
    }
}

/// One conversation.
#[derive(Debug)]
pub(crate) struct Session {
    pub next_seq: u64,
    pub replay: Replay,
    /// v2 connections that receive every frame of this session.
    pub attached: Vec<ConnectionId>,
    pub running: Option<TurnId>,
    pub queue: VecDeque<TurnId>,
    pub recent: RecentIds,
    pub last_active: u64,
    /// A v2 connection followed this session at some point: only then can anyone hold a seq
    /// of it, so only then are frames kept for replay.
    pub followed: bool,
}

impl Session {
    pub(crate) fn new(now: u64) -> Session {
        Session {
            next_seq: 1,
            replay: Replay::default(),
            attached: Vec::new(),
            running: None,
            queue: VecDeque::new(),
            recent: RecentIds::default(),
            last_active: now,
            followed: false,
        }
    }

    /// No v2 connection follows the session, nor ever did: nobody holds a seq of it.
    #[inline]
    pub(crate) fn is_unwatched(&self) -> bool {
        self.attached.is_empty() && !self.followed
    }

    /// Assigns the next seq to a frame nobody receives or replays.
    #[inline]
    pub(crate) fn skip_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Assigns the next seq to `frame` and keeps it for resume.
    #[inline]
    pub(crate) fn record(
        &mut self,
        frame: LiveFrame<'_>,
        max_frames: usize,
        max_bytes: usize,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.followed {
            self.replay
                .push(seq, frame.to_stored(), max_frames, max_bytes);
        }
        seq
    }

    /// Whether the session holds nothing worth keeping.
    pub(crate) fn is_idle(&self) -> bool {
        self.running.is_none() && self.queue.is_empty() && self.attached.is_empty()
    }

    /// The frames after `last_seq`, or the gap that prevents it.
    pub(crate) fn since(
        &self,
        last_seq: u64,
    ) -> Result<impl Iterator<Item = &(u64, StoredFrame)>, Gap> {
        let oldest = self
            .replay
            .entries
            .front()
            .map_or(self.next_seq, |(s, _)| *s);
        if last_seq >= self.next_seq || last_seq.saturating_add(1) < oldest {
            return Err(Gap { oldest });
        }
        Ok(self
            .replay
            .entries
            .iter()
            .filter(move |(s, _)| *s > last_seq))
    }

    /// The full text of reply `message_id` as far as the buffer knows it (for cumulative
    /// rendering of replayed stream frames of finished replies).
    pub(crate) fn reply_text(&self, message_id: &str) -> Option<String> {
        let mut chunks: Vec<&str> = Vec::new();
        for (_, frame) in self.replay.entries.iter().rev() {
            match frame {
                SessionFrame::Response {
                    message_id: m,
                    content,
                    ..
                } if **m == *message_id => chunks.push(content.as_ref()),
                SessionFrame::Error {
                    message_id: m,
                    partial,
                    ..
                } if **m == *message_id => return Some(partial.to_string()),
                _ => {}
            }
        }
        if chunks.is_empty() {
            return None;
        }
        Some(chunks.iter().rev().copied().collect())
    }

    pub(crate) fn export(&self, key: &str) -> Value {
        let entries: Vec<Value> = self
            .replay
            .entries
            .iter()
            .map(|(seq, f)| f.to_value(*seq))
            .collect();
        json!({"sessionKey": key, "nextSeq": self.next_seq, "frames": entries})
    }

    /// Rebuilds a session from [`Session::export`] output.
    pub(crate) fn import(
        v: &Value,
        now: u64,
        max_frames: usize,
        max_bytes: usize,
    ) -> Option<(String, Session)> {
        let key = v.get("sessionKey")?.as_str()?.to_string();
        let next_seq = v.get("nextSeq")?.as_u64()?;
        let mut session = Session::new(now);
        session.next_seq = next_seq;
        session.followed = true;
        let mut previous = 0;
        for entry in v.get("frames")?.as_array()? {
            let (seq, frame) = SessionFrame::from_value(entry)?;
            if seq <= previous || seq >= next_seq {
                return None;
            }
            previous = seq;
            session.replay.push(seq, frame, max_frames, max_bytes);
        }
        Some((key, session))
    }
}
