//! The session table: sessions by key, and by a handle that skips the key search.
//!
//! Session keys share a long prefix (`agent:<id>:websocket:direct:`), so finding one in an
//! ordered map compares that prefix again at every step. Turns and connections keep a
//! [`SessionRef`] instead: a slot and its generation, checked in O(1), so a removed session's
//! handle finds nothing rather than its slot's next occupant.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::session::Session;

/// A handle to a session; stale once the session is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionRef {
    slot: u32,
    generation: u32,
}

struct Slot {
    generation: u32,
    entry: Option<(Arc<str>, Session)>,
}

#[derive(Default)]
pub(crate) struct Sessions {
    /// Key order, for iteration and lookups by key.
    index: BTreeMap<Arc<str>, u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Sessions {
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn find(&self, key: &str) -> Option<SessionRef> {
        let slot = *self.index.get(key)?;
        let generation = self.slots.get(slot as usize)?.generation;
        Some(SessionRef { slot, generation })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Session> {
        self.at(self.find(key)?)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Session> {
        self.at_mut(self.find(key)?)
    }

    fn slot(&self, at: SessionRef) -> Option<&(Arc<str>, Session)> {
        let slot = self.slots.get(at.slot as usize)?;
        (slot.generation == at.generation)
            .then_some(slot.entry.as_ref())
            .flatten()
    }

    pub(crate) fn at(&self, at: SessionRef) -> Option<&Session> {
        self.slot(at).map(|(_, s)| s)
    }

    pub(crate) fn at_mut(&mut self, at: SessionRef) -> Option<&mut Session> {
        let slot = self.slots.get_mut(at.slot as usize)?;
        if slot.generation != at.generation {
            return None;
        }
        slot.entry.as_mut().map(|(_, s)| s)
    }

    /// The key of the session `at` refers to.
    pub(crate) fn key(&self, at: SessionRef) -> Option<&str> {
        self.slot(at).map(|(k, _)| &**k)
    }

    /// Adds `session` under `key`, replacing (in place) one already there.
    pub(crate) fn insert(&mut self, key: &str, session: Session) -> SessionRef {
        if let Some(at) = self.find(key) {
            if let Some(old) = self.at_mut(at) {
                *old = session;
            }
            return at;
        }
        let key: Arc<str> = key.into();
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                // More than 2^32 sessions cannot be held in memory at once.
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.entry = Some((key.clone(), session));
        self.index.insert(key, slot);
        SessionRef {
            slot,
            generation: entry.generation,
        }
    }

    /// The session under `key`, created with `make` if there is none.
    pub(crate) fn get_or_insert_with(
        &mut self,
        key: &str,
        make: impl FnOnce() -> Session,
    ) -> SessionRef {
        match self.find(key) {
            Some(at) => at,
            None => self.insert(key, make()),
        }
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<Session> {
        let slot = self.index.remove(key)?;
        let entry = self.slots.get_mut(slot as usize)?;
        // Every handle to the old occupant goes stale.
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        entry.entry.take().map(|(_, s)| s)
    }

    /// Sessions in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Session)> {
        self.index.iter().filter_map(|(key, &slot)| {
            let (_, session) = self.slots.get(slot as usize)?.entry.as_ref()?;
            Some((&**key, session))
        })
    }
}

impl core::ops::Index<&str> for Sessions {
    type Output = Session;

    fn index(&self, key: &str) -> &Session {
        self.get(key).expect("no session with this key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_go_stale_when_their_session_is_removed() {
        let mut sessions = Sessions::default();
        let a = sessions.insert("a", Session::new(1));
        let b = sessions.insert("b", Session::new(2));
        assert_eq!(sessions.key(a), Some("a"));
        assert_eq!(sessions.find("b"), Some(b));
        assert!(sessions.remove("a").is_some());
        assert!(sessions.at(a).is_none());
        // The slot is reused; the old handle still finds nothing.
        let c = sessions.insert("c", Session::new(3));
        assert!(sessions.at(a).is_none());
        assert_eq!(sessions.key(c), Some("c"));
        assert_eq!(
            sessions.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["b", "c"]
        );
        // Replacing keeps the handle.
        assert_eq!(sessions.insert("c", Session::new(4)), c);
        assert_eq!(sessions.at(c).map(|s| s.last_active), Some(4));
        assert_eq!(sessions.len(), 2);
    }
}
