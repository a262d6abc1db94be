//! Clients live in a table inside the module; JavaScript holds a small integer per client.

use std::cell::RefCell;
use std::collections::BTreeMap;

use clawsocket_core::Client;

thread_local! {
    static CLIENTS: RefCell<(u32, BTreeMap<u32, Client>)> = const { RefCell::new((0, BTreeMap::new())) };
}

/// Stores a client and returns its handle (never 0, which means "no client").
pub fn insert(client: Client) -> u32 {
    CLIENTS.with_borrow_mut(|(last, table)| {
        *last = last.wrapping_add(1).max(1);
        table.insert(*last, client);
        *last
    })
}

/// Drops a client; unknown handles are ignored.
pub fn remove(handle: u32) {
    CLIENTS.with_borrow_mut(|(_, table)| table.remove(&handle));
}

/// Runs `f` on the client behind `handle` (`None` when there is none).
pub fn with<R>(handle: u32, f: impl FnOnce(&mut Client) -> R) -> Option<R> {
    CLIENTS.with_borrow_mut(|(_, table)| table.get_mut(&handle).map(f))
}
