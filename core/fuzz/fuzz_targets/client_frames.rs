//! Feeds arbitrary server frames to the client state machine: it must never panic.

#![no_main]

use clawsocket_core::{Client, ClientOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut client = Client::new(ClientOptions::default());
    client.handle_open(0);
    for (i, part) in data.split(|b| *b == b'\n').enumerate() {
        let _ = client.handle_frame(i as u64, &String::from_utf8_lossy(part));
        while client.poll_event().is_some() {}
        while client.poll_transmit().is_some() {}
    }
});
