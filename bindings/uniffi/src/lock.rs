//! The mutex every exported object keeps its state machine in.

use std::sync::{Mutex, MutexGuard};

/// Locks a state machine. A poisoned lock means a core call panicked half-way through an
/// update; the state can no longer be trusted, so every later call fails loudly too (uniffi
/// turns the panic into an internal error on the foreign side) instead of running on it.
pub(crate) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(_) => panic!("clawsocket state machine is unusable after an earlier panic"),
    }
}
