//! Deadlines the core owns, ordered for `poll_timeout`. Entries are hints: the owner re-checks
//! the real deadline when one fires, so hot paths never have to move an entry.

use alloc::collections::BTreeSet;

use crate::event::{ConnectionId, TurnId};

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// Auth verification of a connection.
    Auth(ConnectionId),
    /// Idle / heartbeat check of a connection.
    Idle(ConnectionId),
    /// Keepalive and agent-silence check of a running turn.
    Turn(TurnId),
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    queue: BTreeSet<(u64, Timer)>,
}

impl Timers {
    pub(crate) fn schedule(&mut self, at: u64, timer: Timer) {
        self.queue.insert((at, timer));
    }

    pub(crate) fn cancel(&mut self, at: u64, timer: Timer) {
        self.queue.remove(&(at, timer));
    }

    pub(crate) fn next(&self) -> Option<u64> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest timer due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<(u64, Timer)> {
        match self.queue.first() {
            Some(&(at, _)) if at <= now => self.queue.pop_first(),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}
