//! A connection's bounded outbound queue. Lighter than a channel (nothing is allocated until
//! the first frame is queued), which matters at tens of thousands of idle connections, and it
//! carries the kill switch for slow consumers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// What a connection task writes to its socket.
#[derive(Debug)]
pub enum Out {
    /// A text frame.
    Text(String),
    /// The closing handshake with this code and reason; nothing follows.
    Close(u16, String),
}

/// Why a frame could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds its maximum: the client stopped reading.
    Full,
    /// The connection task is gone.
    Closed,
}

/// What the connection task gets next.
#[derive(Debug)]
pub enum Next {
    /// Frames to write, in order (at most the batch size).
    Frames(Vec<Out>),
    /// The hub dropped the connection (slow consumer).
    Killed,
    /// The hub will send nothing more.
    Ended,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<VecDeque<Out>>,
    ready: Notify,
    killed: AtomicBool,
    ended: AtomicBool,
    capacity: usize,
}

/// The hub's end (one per connection).
#[derive(Debug)]
pub struct Sender(Arc<Shared>);

/// The connection task's end.
#[derive(Debug)]
pub struct Receiver(Arc<Shared>);

/// A queue holding at most `capacity` frames.
pub fn outbox(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        ready: Notify::new(),
        killed: AtomicBool::new(false),
        ended: AtomicBool::new(false),
        capacity,
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl Sender {
    /// Queues a frame without waiting.
    pub fn try_send(&self, out: Out) -> Result<(), Refused> {
        if self.0.ended.load(Ordering::Acquire) {
            return Err(Refused::Closed);
        }
        {
            let mut queue = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
            if queue.len() >= self.0.capacity {
                return Err(Refused::Full);
            }
            queue.push_back(out);
        }
        self.0.ready.notify_one();
        Ok(())
    }

    /// Tells the connection task to drop its socket now.
    pub fn kill(&self) {
        self.0.killed.store(true, Ordering::Release);
        self.0.ready.notify_one();
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
        self.0.ready.notify_one();
    }
}

impl Receiver {
    /// Waits for frames (up to `batch`), a kill, or the end.
    pub async fn next(&self, batch: usize) -> Next {
        loop {
            if self.0.killed.load(Ordering::Acquire) {
                return Next::Killed;
            }
            {
                let mut queue = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
                if !queue.is_empty() {
                    let n = queue.len().min(batch);
                    let frames: Vec<Out> = queue.drain(..n).collect();
                    if queue.is_empty() && queue.capacity() > 64 {
                        // A burst is over: give the memory back.
                        queue.shrink_to_fit();
                    }
                    return Next::Frames(frames);
                }
            }
            if self.0.ended.load(Ordering::Acquire) {
                return Next::Ended;
            }
            self.0.ready.notified().await;
        }
    }

    /// Completes when the hub asks to drop the connection. It may take wake-ups meant for
    /// [`Receiver::next`], which is harmless: `next` looks at the queue before it waits.
    pub async fn killed(&self) {
        while !self.0.killed.load(Ordering::Acquire) {
            self.0.ready.notified().await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_ordered_killable() {
        let (tx, rx) = outbox(2);
        tx.try_send(Out::Text("a".into())).unwrap();
        tx.try_send(Out::Text("b".into())).unwrap();
        assert_eq!(tx.try_send(Out::Text("c".into())), Err(Refused::Full));
        match rx.next(10).await {
            Next::Frames(f) => assert_eq!(f.len(), 2),
            other => panic!("{other:?}"),
        }
        tx.kill();
        assert!(matches!(rx.next(10).await, Next::Killed));
        drop(rx);
        assert_eq!(tx.try_send(Out::Text("d".into())), Err(Refused::Closed));
    }

    #[tokio::test]
    async fn dropping_the_sender_ends() {
        let (tx, rx) = outbox(2);
        drop(tx);
        assert!(matches!(rx.next(10).await, Next::Ended));
    }
}
