//! The queue of frames and closes waiting for the host, written into one reused buffer.
//!
//! Frames are rendered straight into `text` and queued as byte ranges, so queuing a frame
//! allocates nothing once the buffer has grown, and a frame that goes to several connections
//! (a group, a user's devices) is rendered and stored once. The buffer is emptied whenever a
//! frame is written while nothing is queued: it only ever holds the frames of one batch.

use alloc::collections::VecDeque;
use alloc::string::String;
use core::ops::Range;

use crate::event::{ConnectionId, PayloadRef, Transmit, TransmitRef};

/// Most buffer a batch leaves allocated for the next one.
pub(crate) const KEPT_CAPACITY: usize = 64 * 1024;

/// A frame already in the buffer, to queue for another connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written(Range<usize>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Queued {
    connection: ConnectionId,
    /// The frame text, or the close reason.
    text: Range<usize>,
    /// The close code, for a close.
    close: Option<u16>,
}

#[derive(Debug, Default)]
pub(crate) struct Transmits {
    text: String,
    queue: VecDeque<Queued>,
}

impl Transmits {
    /// Queues for `connection` the frame `write` appends to the buffer.
    #[inline]
    pub(crate) fn push_text(
        &mut self,
        connection: ConnectionId,
        write: impl FnOnce(&mut String),
    ) -> Written {
        let text = self.write(write);
        self.queue.push_back(Queued {
            connection,
            text: text.clone(),
            close: None,
        });
        Written(text)
    }

    /// Queues a frame written before (in this batch) for one more connection.
    #[inline]
    pub(crate) fn push_again(&mut self, connection: ConnectionId, frame: &Written) {
        self.queue.push_back(Queued {
            connection,
            text: frame.0.clone(),
            close: None,
        });
    }

    /// Queues the closing handshake for `connection`.
    pub(crate) fn push_close(&mut self, connection: ConnectionId, code: u16, reason: &str) {
        let text = self.write(|out| out.push_str(reason));
        self.queue.push_back(Queued {
            connection,
            text,
            close: Some(code),
        });
    }

    #[inline]
    fn write(&mut self, write: impl FnOnce(&mut String)) -> Range<usize> {
        if self.queue.is_empty() {
            // Every range handed out before is drained. A batch of large frames (a long
            // history page) does not keep its memory for good.
            if self.text.capacity() > KEPT_CAPACITY {
                self.text = String::new();
            }
            self.text.clear();
        }
        let start = self.text.len();
        write(&mut self.text);
        start..self.text.len()
    }

    /// Drops everything queued for `connection`.
    pub(crate) fn forget(&mut self, connection: ConnectionId) {
        self.queue.retain(|q| q.connection != connection);
    }

    /// The next transmit, borrowed from the buffer.
    #[inline]
    pub(crate) fn pop_ref(&mut self) -> Option<TransmitRef<'_>> {
        let next = self.queue.pop_front()?;
        Some(self.lend(next))
    }

    /// The next transmit, left in the queue.
    pub(crate) fn peek(&self) -> Option<TransmitRef<'_>> {
        self.queue.front().map(|next| self.lend(next.clone()))
    }

    #[inline]
    fn lend(&self, queued: Queued) -> TransmitRef<'_> {
        let text = self.text.get(queued.text).unwrap_or_default();
        TransmitRef {
            connection: queued.connection,
            payload: match queued.close {
                None => PayloadRef::Text(text),
                Some(code) => PayloadRef::Close { code, reason: text },
            },
        }
    }

    /// The next transmit, as its own strings.
    pub(crate) fn pop(&mut self) -> Option<Transmit> {
        self.pop_ref().map(|t| t.to_transmit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Payload;
    use alloc::vec::Vec;

    #[test]
    fn frames_are_stored_once_and_the_buffer_is_reused() {
        let mut t = Transmits::default();
        let a = t.push_text(ConnectionId(1), |out| out.push_str("{\"a\":1}"));
        t.push_again(ConnectionId(2), &a);
        t.push_close(ConnectionId(1), 4401, "bye");
        assert_eq!(t.text, "{\"a\":1}bye");
        let drained: Vec<Transmit> = core::iter::from_fn(|| t.pop()).collect();
        assert_eq!(drained.len(), 3);
        assert_eq!(drained[1].connection, ConnectionId(2));
        assert_eq!(drained[1].payload, Payload::Text("{\"a\":1}".into()));
        assert_eq!(
            drained[2].payload,
            Payload::Close {
                code: 4401,
                reason: "bye".into()
            }
        );
        // The next batch starts with an empty buffer.
        t.push_text(ConnectionId(3), |out| out.push_str("{}"));
        assert_eq!(t.text, "{}");
        assert_eq!(t.peek().map(|n| n.payload), Some(PayloadRef::Text("{}")));
        let next = t.pop_ref().unwrap();
        assert_eq!(next.payload, PayloadRef::Text("{}"));
        assert!(t.pop_ref().is_none());
    }

    #[test]
    fn a_large_batch_does_not_keep_its_memory() {
        let mut t = Transmits::default();
        let big = "x".repeat(4 * KEPT_CAPACITY);
        t.push_text(ConnectionId(1), |out| out.push_str(&big));
        assert_eq!(t.pop().map(|x| x.payload), Some(Payload::Text(big)));
        t.push_text(ConnectionId(1), |out| out.push_str("{}"));
        assert!(t.text.capacity() <= KEPT_CAPACITY);
    }

    #[test]
    fn a_connection_can_be_forgotten() {
        let mut t = Transmits::default();
        t.push_text(ConnectionId(1), |out| out.push('1'));
        t.push_text(ConnectionId(2), |out| out.push('2'));
        t.forget(ConnectionId(1));
        assert_eq!(t.pop().map(|x| x.connection), Some(ConnectionId(2)));
        assert!(t.pop().is_none());
    }
}
