//! Drafts the expectations of a vector: runs its inputs and prints every step with the outputs
//! the core produces now. For writing new vectors: read every line against `docs/protocol.md`
//! before pasting anything into a file (a vector that merely records the implementation tests
//! nothing).
//!
//! `cargo run -p clawsocket-core --example draft_vector -- tests/vectors/NAME.json`

#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: draft_vector FILE [--json]");
    if std::env::args().nth(2).as_deref() == Some("--json") {
        let steps: Vec<serde_json::Value> = support::execute(std::path::Path::new(&path))
            .iter()
            .map(|o| serde_json::json!({"frames": o.frames, "events": o.events, "timeout": o.timeout, "result": o.result}))
            .collect();
        println!("{}", serde_json::to_string(&steps).unwrap());
        return;
    }
    for out in support::execute(std::path::Path::new(&path)) {
        println!(
            "step {} at {}: {} {}",
            out.index,
            out.at,
            out.input,
            out.step[&out.input].get()
        );
        if let Some(r) = &out.result {
            println!("  result {r}");
        }
        for f in &out.frames {
            println!("  frame {f},");
        }
        for e in &out.events {
            println!("  event {e},");
        }
        println!("  timeout {:?}", out.timeout);
    }
}
