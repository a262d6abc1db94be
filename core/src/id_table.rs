//! A table keyed by the core's own counters (connection and turn ids), found in O(1).
//!
//! Ids are handed out in increasing order and never reused, so recent entries sit in a window
//! indexed by `id - base`: a lookup is a subtraction and a bounds check, not a tree search.
//! Removing an entry leaves a hole until everything before it is gone. An entry that outlives
//! many younger ones (a long conversation, a reply that runs for minutes) would keep the holes
//! after it alive, so once holes outnumber the live entries the oldest entries move to an
//! ordered map: memory stays proportional to what is live, and only those old entries pay for
//! a tree lookup.

use alloc::collections::{BTreeMap, VecDeque};

use crate::event::{ConnectionId, TurnId};

/// An id the core counts up from 1.
pub(crate) trait CounterId: Copy + Ord {
    fn number(self) -> u64;
    fn from_number(n: u64) -> Self;
}

impl CounterId for ConnectionId {
    #[inline]
    fn number(self) -> u64 {
        self.0
    }
    #[inline]
    fn from_number(n: u64) -> Self {
        ConnectionId(n)
    }
}

impl CounterId for TurnId {
    #[inline]
    fn number(self) -> u64 {
        self.0
    }
    #[inline]
    fn from_number(n: u64) -> Self {
        TurnId(n)
    }
}

/// Holes the window may hold beyond one per live entry before its oldest entries move out.
const SLACK: usize = 64;

#[derive(Debug)]
pub(crate) struct IdTable<K, V> {
    /// The id of `window[0]`.
    base: u64,
    /// Recent ids; `None` where an entry was removed. Never starts with a hole.
    window: VecDeque<Option<V>>,
    /// Live entries in `window`.
    window_live: usize,
    /// Entries older than `base`.
    old: BTreeMap<K, V>,
}

impl<K: CounterId, V> Default for IdTable<K, V> {
    fn default() -> Self {
        IdTable {
            base: 0,
            window: VecDeque::new(),
            window_live: 0,
            old: BTreeMap::new(),
        }
    }
}

impl<K: CounterId, V> IdTable<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.window_live + self.old.len()
    }

    /// The window position of `id`, when it is at or after `base`.
    #[inline]
    fn position(&self, id: K) -> Option<usize> {
        usize::try_from(id.number().checked_sub(self.base)?).ok()
    }

    #[inline]
    pub(crate) fn get(&self, id: &K) -> Option<&V> {
        match self.position(*id) {
            Some(at) => self.window.get(at)?.as_ref(),
            None => self.old.get(id),
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, id: &K) -> Option<&mut V> {
        match self.position(*id) {
            Some(at) => self.window.get_mut(at)?.as_mut(),
            None => self.old.get_mut(id),
        }
    }

    pub(crate) fn contains_key(&self, id: &K) -> bool {
        self.get(id).is_some()
    }

    /// Adds an entry. The core inserts each new id once, greater than every id before it;
    /// anything else is handled correctly, just not quickly.
    #[inline]
    pub(crate) fn insert(&mut self, id: K, value: V) {
        self.insert_with(id, || value);
    }

    /// [`IdTable::insert`] of the value `make` builds, built where it is stored when it can be.
    #[inline]
    pub(crate) fn insert_with(&mut self, id: K, make: impl FnOnce() -> V) {
        // The usual case: the next id after the window, in a window with few holes.
        let next = self.base + self.window.len() as u64;
        if id.number() == next
            && !self.window.is_empty()
            && self.window.len() < 2 * self.window_live + SLACK
        {
            self.window.push_back(Some(make()));
            self.window_live += 1;
            return;
        }
        self.insert_elsewhere(id, make());
    }

    fn insert_elsewhere(&mut self, id: K, value: V) {
        if self.window.is_empty() {
            self.base = id.number();
        }
        let Some(mut at) = self.position(id) else {
            self.old.insert(id, value); // older than the window
            return;
        };
        if let Some(slot) = self.window.get_mut(at) {
            if slot.replace(value).is_none() {
                self.window_live += 1;
            }
            return;
        }
        if at > self.window.len() + SLACK {
            // A jump far ahead: start a new window rather than fill the gap with holes.
            self.move_out(self.window.len());
            self.base = id.number();
            at = 0;
        }
        while self.window.len() < at {
            self.window.push_back(None); // ids that were skipped
        }
        self.window.push_back(Some(value));
        self.window_live += 1;
        self.bound_holes();
    }

    pub(crate) fn remove(&mut self, id: &K) -> Option<V> {
        let Some(at) = self.position(*id) else {
            return self.old.remove(id);
        };
        let value = self.window.get_mut(at)?.take()?;
        self.window_live -= 1;
        self.drop_leading_holes();
        Some(value)
    }

    fn drop_leading_holes(&mut self) {
        while let Some(None) = self.window.front() {
            self.window.pop_front();
            self.base += 1;
        }
    }

    /// Moves the oldest entries out while the window holds more holes than live entries.
    fn bound_holes(&mut self) {
        loop {
            let excess = self
                .window
                .len()
                .saturating_sub(2 * self.window_live + SLACK);
            if excess == 0 {
                break;
            }
            self.move_out(excess);
        }
    }

    /// Moves the first `count` positions of the window (and the holes after them) out.
    fn move_out(&mut self, count: usize) {
        for _ in 0..count {
            let Some(slot) = self.window.pop_front() else {
                break;
            };
            if let Some(value) = slot {
                self.old.insert(K::from_number(self.base), value);
                self.window_live -= 1;
            }
            self.base += 1;
        }
        self.drop_leading_holes();
    }

    /// Entries in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &V)> + '_ {
        let base = self.base;
        self.old.iter().map(|(k, v)| (*k, v)).chain(
            self.window
                .iter()
                .enumerate()
                .filter_map(move |(i, v)| Some((K::from_number(base + i as u64), v.as_ref()?))),
        )
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }
}

impl<K: CounterId, V> core::ops::Index<&K> for IdTable<K, V> {
    type Output = V;

    fn index(&self, id: &K) -> &V {
        self.get(id).expect("no entry with this id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// The table answers exactly as an ordered map would, whatever the order of removals,
    /// and its window stays bounded by what is live.
    #[test]
    fn behaves_like_an_ordered_map() {
        let mut table: IdTable<TurnId, u64> = IdTable::default();
        let mut model: BTreeMap<TurnId, u64> = BTreeMap::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut id = 0;
        for round in 0..20_000u64 {
            match next() % 7 {
                // Mostly inserts and removals of recent entries; a few entries live for long.
                0..=2 => {
                    id += 1 + next() % 2; // ids may be skipped
                    table.insert(TurnId(id), round);
                    model.insert(TurnId(id), round);
                    assert!(table.window.len() <= 2 * table.window_live + SLACK);
                }
                3..=5 if id > 0 => {
                    let back = if next() % 50 == 0 { id } else { next() % 8 };
                    let victim = TurnId(id.saturating_sub(back));
                    assert_eq!(table.remove(&victim), model.remove(&victim));
                }
                _ => {
                    let probe = TurnId(next() % (id + 2));
                    assert_eq!(table.get(&probe), model.get(&probe));
                    if let Some(v) = table.get_mut(&probe) {
                        *v += 1;
                        *model.get_mut(&probe).unwrap() += 1;
                    }
                }
            }
            assert_eq!(table.len(), model.len());
        }
        let listed: Vec<(TurnId, u64)> = table.iter().map(|(k, v)| (k, *v)).collect();
        let expected: Vec<(TurnId, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(listed, expected);
        assert!(
            !table.old.is_empty(),
            "long-lived entries moved out of the window"
        );
    }

    #[test]
    fn emptied_table_starts_again_at_the_next_id() {
        let mut table: IdTable<ConnectionId, &str> = IdTable::default();
        table.insert(ConnectionId(1), "a");
        table.insert(ConnectionId(2), "b");
        assert_eq!(table.remove(&ConnectionId(1)), Some("a"));
        assert_eq!(table.remove(&ConnectionId(2)), Some("b"));
        assert_eq!(table.len(), 0);
        assert!(table.window.is_empty());
        table.insert(ConnectionId(9), "c");
        assert_eq!(table[&ConnectionId(9)], "c");
        assert_eq!(table.get(&ConnectionId(2)), None);
        assert_eq!(table.keys().collect::<Vec<_>>(), [ConnectionId(9)]);
    }
}
