//! A freestanding program: no std, no Rust runtime, only libc's `malloc`, `free`, `write` and
//! the C `main` entry. It drives one chat turn through clawsocket-core and checks the frames.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use core::alloc::{GlobalAlloc, Layout};

use clawsocket_core::{Config, Event, Payload, Server};

#[link(name = "c")]
extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn free(ptr: *mut u8);
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn abort() -> !;
}

/// malloc returns memory aligned for any fundamental type (16 bytes on x86_64 glibc); larger
/// alignments are not needed by the core.
struct LibcAllocator;

unsafe impl GlobalAlloc for LibcAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > 16 {
            return core::ptr::null_mut();
        }
        // SAFETY: plain libc allocation of a non-zero size.
        unsafe { malloc(layout.size().max(1)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above.
        unsafe { free(ptr) }
    }
}

#[global_allocator]
static ALLOCATOR: LibcAllocator = LibcAllocator;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    say("no_std check: panic\n");
    // SAFETY: abort never returns and needs no arguments.
    unsafe { abort() }
}

fn say(text: &str) {
    // SAFETY: writes `text.len()` bytes from a valid buffer to stdout.
    unsafe {
        write(1, text.as_ptr(), text.len());
    }
}

fn check() -> Result<(), &'static str> {
    let config = Config::from_json(r#"{"auth":{"enabled":false}}"#).map_err(|_| "config")?;
    let mut server = Server::new(config);
    let conn = server.handle_connect(0, "senderId=nostd&senderName=Bare");
    server
        .handle_text(1, conn, br#"{"type":"chat.send","content":"ping"}"#)
        .map_err(|_| "text")?;
    let mut turn = None;
    while let Some(event) = server.poll_event() {
        if let Event::RunTurn(t) = event {
            if t.body() != "Bare: ping" {
                return Err("envelope");
            }
            turn = Some(t.id());
        }
    }
    let turn = turn.ok_or("no turn")?;
    server.handle_agent_delta(2, turn, "po").map_err(|_| "delta")?;
    server.handle_agent_final(3, turn, Some("pong")).map_err(|_| "final")?;
    let mut last = String::new();
    let mut count = 0;
    while let Some(t) = server.poll_transmit() {
        if let Payload::Text(text) = t.payload {
            last = text;
            count += 1;
        }
    }
    // ready, typing, stream, response
    if count != 4 || last != r#"{"type":"chat.response","messageId":"msg-1","content":"pong","done":true}"# {
        return Err("frames");
    }
    Ok(())
}

// The prebuilt `alloc` is compiled for unwinding: it references the unwinder (from the
// system's libgcc_s) and a personality routine. With panic=abort nothing ever unwinds, so the
// routine is never called; it only has to exist.
#[link(name = "gcc_s")]
extern "C" {}

#[no_mangle]
pub extern "C" fn rust_eh_personality() {
    // SAFETY: abort never returns.
    unsafe { abort() }
}

#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    match check() {
        Ok(()) => {
            say("no_std check: ok\n");
            0
        }
        Err(what) => {
            say("no_std check: failed: ");
            say(what);
            say("\n");
            1
        }
    }
}
