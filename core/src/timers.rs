//! Deadlines the core owns, ordered for `poll_timeout`.
//!
//! Connection deadlines (auth, idle) change rarely and are removed exactly. Turn deadlines
//! change with every message, so they are never searched for: when a turn ends, its entry
//! goes stale and is dropped once it reaches the front, or when stale entries outnumber the
//! turns. They are kept in order in a queue: a new turn's deadline is its start plus a fixed
//! interval, so it almost always belongs at the back. Whether an entry is still live is the owner's knowledge (a turn's
//! current deadline), passed in as `live`. The front entry is always live after any of these
//! calls, so [`Timers::next`] is exact.

use alloc::collections::{BTreeSet, VecDeque};

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

/// Stale turn entries tolerated beyond one per turn before they are swept out.
const STALE_SLACK: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Timers {
    connections: BTreeSet<(u64, Timer)>,
    /// Sorted by deadline (then turn).
    turns: VecDeque<(u64, TurnId)>,
}

impl Timers {
    pub(crate) fn schedule(&mut self, at: u64, timer: Timer) {
        match timer {
            Timer::Turn(turn) => {
                let entry = (at, turn);
                match self.turns.back() {
                    Some(last) if *last > entry => {
                        let position = self.turns.partition_point(|e| *e < entry);
                        self.turns.insert(position, entry);
                    }
                    _ => self.turns.push_back(entry),
                }
            }
            _ => {
                self.connections.insert((at, timer));
            }
        }
    }

    /// Removes a connection deadline. (Turn deadlines are never removed: they go stale.)
    pub(crate) fn cancel(&mut self, at: u64, timer: Timer) {
        debug_assert!(!matches!(timer, Timer::Turn(_)));
        self.connections.remove(&(at, timer));
    }

    /// Drops stale turn entries from the front, and sweeps them all out when they outnumber
    /// the `turns` the owner holds. Call after a turn ended or its deadline moved.
    pub(crate) fn drop_stale_turns(&mut self, turns: usize, live: impl Fn(u64, TurnId) -> bool) {
        if self.turns.len() > 2 * turns + STALE_SLACK {
            self.turns.retain(|(at, turn)| live(*at, *turn));
        }
        self.drop_stale_front(live);
    }

    fn drop_stale_front(&mut self, live: impl Fn(u64, TurnId) -> bool) {
        while let Some(&(at, turn)) = self.turns.front() {
            if live(at, turn) {
                break;
            }
            self.turns.pop_front();
        }
    }

    pub(crate) fn next(&self) -> Option<u64> {
        let connection = self.connections.first().map(|(at, _)| *at);
        let turn = self.turns.front().map(|(at, _)| *at);
        match (connection, turn) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes and returns the earliest live timer due at or before `now`.
    pub(crate) fn pop_due(
        &mut self,
        now: u64,
        live: impl Fn(u64, TurnId) -> bool,
    ) -> Option<(u64, Timer)> {
        self.drop_stale_front(&live);
        let connection = self.connections.first().map(|(at, _)| *at);
        let turn = self.turns.front().map(|(at, _)| *at);
        match (connection, turn) {
            (Some(c), t) if c <= now && t.is_none_or(|t| c <= t) => self.connections.pop_first(),
            (_, Some(t)) if t <= now => {
                let (at, turn) = self.turns.pop_front()?;
                // The next one may be stale: keep the front live.
                self.drop_stale_front(live);
                Some((at, Timer::Turn(turn)))
            }
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.connections.len() + self.turns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn turn_deadlines_fire_in_order_whatever_the_order_they_came_in() {
        let mut timers = Timers::default();
        for (at, turn) in [(30, 1), (10, 2), (20, 3), (10, 1), (40, 4), (25, 5)] {
            timers.schedule(at, Timer::Turn(TurnId(turn)));
        }
        let fired: Vec<(u64, Timer)> =
            core::iter::from_fn(|| timers.pop_due(100, |_, _| true)).collect();
        let order: Vec<(u64, u64)> = fired
            .iter()
            .map(|(at, t)| match t {
                Timer::Turn(id) => (*at, id.0),
                _ => (0, 0),
            })
            .collect();
        assert_eq!(
            order,
            [(10, 1), (10, 2), (20, 3), (25, 5), (30, 1), (40, 4)]
        );
    }

    #[test]
    fn stale_turn_entries_never_show_and_are_swept() {
        let mut timers = Timers::default();
        timers.schedule(50, Timer::Idle(ConnectionId(1)));
        for turn in 1..=200 {
            timers.schedule(100 + turn, Timer::Turn(TurnId(turn)));
        }
        // Turns 1..=150 end; 151.. remain with their deadlines.
        let live = |_at: u64, turn: TurnId| turn.0 > 150;
        timers.drop_stale_turns(50, live);
        assert_eq!(timers.next(), Some(50));
        assert!(timers.len() <= 1 + 2 * 50 + STALE_SLACK);
        let mut fired = Vec::new();
        while let Some((at, timer)) = timers.pop_due(400, live) {
            fired.push((at, timer));
        }
        assert_eq!(fired.first(), Some(&(50, Timer::Idle(ConnectionId(1)))));
        assert_eq!(fired.len(), 1 + 50);
        assert!(fired[1..]
            .iter()
            .all(|(at, t)| matches!(t, Timer::Turn(id) if id.0 > 150 && *at == 100 + id.0)));
        assert_eq!(timers.next(), None);
    }
}
