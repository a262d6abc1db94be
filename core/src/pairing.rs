//! `dmPolicy: pairing`: unknown senders get a short code that an operator approves.
//!
//! Codes are derived from the sender id and the configured `pairingSeed` (no randomness): the
//! same sender always sees the same code, so retrying does not flood the operator's list.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;

use heapless::String as ShortString;
use sha2::{Digest, Sha256};

/// Letters and digits that cannot be confused with each other when read aloud or typed.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Length of a pairing code.
pub const CODE_LEN: usize = 8;
/// Pending requests kept; the oldest is forgotten beyond this (it can simply ask again).
const MAX_PENDING: usize = 256;

/// A pairing code.
pub type Code = ShortString<CODE_LEN>;

pub(crate) fn code_for(seed: &str, sender_id: &str) -> Code {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update([0]);
    h.update(sender_id.as_bytes());
    let digest = h.finalize();
    let mut code = Code::new();
    for byte in digest.iter().take(CODE_LEN) {
        // 32 symbols: the low five bits of each byte pick one.
        let _ = code.push(ALPHABET[usize::from(byte & 31)] as char);
    }
    code
}

#[derive(Debug, Clone)]
pub(crate) struct PendingRequest {
    pub sender_id: String,
    pub sender_name: Option<String>,
}

/// Approved senders and the requests waiting for an operator.
#[derive(Debug, Default)]
pub(crate) struct Pairing {
    pub approved: BTreeSet<String>,
    pending: BTreeMap<Code, PendingRequest>,
    order: VecDeque<Code>,
}

impl Pairing {
    /// Records a request; returns true when it is new (the host should tell an operator).
    pub(crate) fn request(
        &mut self,
        code: &Code,
        sender_id: &str,
        sender_name: Option<&str>,
    ) -> bool {
        if self.pending.contains_key(code) {
            return false;
        }
        if self.order.len() >= MAX_PENDING {
            if let Some(oldest) = self.order.pop_front() {
                self.pending.remove(&oldest);
            }
        }
        self.order.push_back(code.clone());
        self.pending.insert(
            code.clone(),
            PendingRequest {
                sender_id: sender_id.into(),
                sender_name: sender_name.map(Into::into),
            },
        );
        true
    }

    /// Approves a code; returns the sender it admitted.
    pub(crate) fn approve(&mut self, code: &str) -> Option<String> {
        let upper = code.trim().to_ascii_uppercase();
        let code = Code::try_from(upper.as_str()).ok()?;
        let request = self.pending.remove(&code)?;
        self.order.retain(|c| c != &code);
        self.approved.insert(request.sender_id.clone());
        Some(request.sender_id)
    }

    pub(crate) fn pending(&self) -> impl Iterator<Item = (&Code, &PendingRequest)> {
        self.order
            .iter()
            .filter_map(|c| self.pending.get_key_value(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_seeded() {
        let a = code_for("seed", "alice");
        assert_eq!(a, code_for("seed", "alice"));
        assert_ne!(a, code_for("other", "alice"));
        assert_ne!(a, code_for("seed", "bob"));
        assert_eq!(a.len(), CODE_LEN);
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)));
    }

    #[test]
    fn approve_admits_once() {
        let mut p = Pairing::default();
        let code = code_for("", "alice");
        assert!(p.request(&code, "alice", None));
        assert!(!p.request(&code, "alice", None));
        assert_eq!(
            p.approve(&code.to_ascii_lowercase()).as_deref(),
            Some("alice")
        );
        assert!(p.approved.contains("alice"));
        assert_eq!(p.approve(&code), None);
        assert_eq!(p.approve("way too long a code"), None);
    }
}
