//! Per-identity message rate: a token bucket on injected time, in thousandths of a message so
//! that integer arithmetic stays exact enough at any configured rate.

use alloc::borrow::ToOwned;
use alloc::collections::BTreeMap;
use alloc::string::String;

/// Every bucket: per authenticated user, or per connection when the identity is only claimed
/// (a claim costs nothing to change, so it cannot be what is limited). Looking one up
/// allocates nothing; only a new user's bucket copies the name.
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    users: BTreeMap<String, Bucket>,
    connections: BTreeMap<u64, Bucket>,
}

impl Buckets {
    /// Takes one message from the sender's bucket. `Err` carries the wait in milliseconds.
    /// `live_connections` bounds how many buckets are worth keeping.
    pub(crate) fn take(
        &mut self,
        now: u64,
        per_minute: u32,
        burst: u32,
        connection: u64,
        user: Option<&str>,
        live_connections: usize,
    ) -> Result<(), u64> {
        if per_minute == 0 {
            return Ok(()); // no limit configured
        }
        let bucket = match user {
            Some(user) => match self.users.get_mut(user) {
                Some(bucket) => bucket,
                None => self
                    .users
                    .entry(user.to_owned())
                    .or_insert_with(|| Bucket::full(burst, now)),
            },
            None => self
                .connections
                .entry(connection)
                .or_insert_with(|| Bucket::full(burst, now)),
        };
        let result = bucket.take(now, per_minute, burst);
        if self.users.len() + self.connections.len() > 4 * live_connections + 64 {
            // Full buckets carry no information: forget them so the maps track only recent
            // senders.
            self.users.retain(|_, b| !b.is_full(now, per_minute, burst));
            self.connections
                .retain(|_, b| !b.is_full(now, per_minute, burst));
        }
        result
    }
}

/// One identity's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bucket {
    milli_tokens: u64,
    updated_at: u64,
}

impl Bucket {
    pub(crate) fn full(burst: u32, now: u64) -> Bucket {
        Bucket {
            milli_tokens: u64::from(burst) * 1000,
            updated_at: now,
        }
    }

    fn refill(&mut self, now: u64, per_minute: u32, burst: u32) {
        let elapsed = now.saturating_sub(self.updated_at);
        // per_minute messages per 60_000 ms = per_minute / 60 milli-messages per ms.
        let gained = elapsed.saturating_mul(u64::from(per_minute)) / 60;
        if gained > 0 {
            self.milli_tokens = (self.milli_tokens + gained).min(u64::from(burst) * 1000);
            self.updated_at = now;
        }
    }

    /// Takes one message; on refusal returns how long until one is available.
    pub(crate) fn take(&mut self, now: u64, per_minute: u32, burst: u32) -> Result<(), u64> {
        self.refill(now, per_minute, burst);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            Ok(())
        } else {
            let missing = 1000 - self.milli_tokens;
            Err((missing * 60).div_ceil(u64::from(per_minute)).max(1))
        }
    }

    /// Whether the bucket is back to full (and so can be forgotten).
    pub(crate) fn is_full(&mut self, now: u64, per_minute: u32, burst: u32) -> bool {
        self.refill(now, per_minute, burst);
        self.milli_tokens >= u64::from(burst) * 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let mut b = Bucket::full(2, 0);
        assert!(b.take(0, 60, 2).is_ok());
        assert!(b.take(0, 60, 2).is_ok());
        assert_eq!(b.take(0, 60, 2), Err(1000));
        assert_eq!(b.take(400, 60, 2), Err(600));
        assert!(b.take(1000, 60, 2).is_ok());
        assert!(!b.is_full(1000, 60, 2));
        assert!(b.is_full(3000, 60, 2));
    }

    #[test]
    fn users_and_connections_have_separate_buckets() {
        let mut buckets = Buckets::default();
        assert!(buckets.take(0, 60, 1, 1, Some("1"), 1).is_ok());
        // Connection 1 and user "1" are different senders.
        assert!(buckets.take(0, 60, 1, 1, None, 1).is_ok());
        assert_eq!(buckets.take(0, 60, 1, 1, Some("1"), 1), Err(1000));
        assert_eq!(buckets.take(0, 60, 1, 2, Some("1"), 1), Err(1000));
        assert_eq!(buckets.take(0, 60, 1, 1, None, 1), Err(1000));
        assert!(buckets.take(0, 0, 1, 1, None, 1).is_ok()); // no limit configured
    }
}
