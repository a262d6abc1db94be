//! Runs every shared vector in `tests/vectors/` through the Rust core and compares each output
//! byte for byte with the expectation written in the file. See `tests/vectors/README.md`.

mod support;

use std::fmt::Write as _;
use std::path::Path;

use serde_json::value::RawValue;
use support::{execute, minify, value, vector_files};

/// Runs one vector file; returns a description of the first mismatching step.
fn run(path: &Path) -> Option<String> {
    for out in execute(path) {
        let step = &out.step;
        let expected = |key: &str| -> Vec<String> {
            step.get(key).map_or_else(Vec::new, |raw| {
                let list: Vec<Box<RawValue>> = serde_json::from_str(raw.get()).expect("list");
                list.iter().map(|r| minify(r.get())).collect()
            })
        };
        let mut report = String::new();
        compare(&mut report, "frames", &expected("frames"), &out.frames);
        compare(&mut report, "events", &expected("events"), &out.events);
        if let Some(raw) = step.get("nextTimeout") {
            let want = value(raw).as_u64();
            if want != out.timeout {
                let _ = writeln!(
                    report,
                    "  poll_timeout: expected {want:?}, got {:?}",
                    out.timeout
                );
            }
        }
        if let Some(raw) = step.get("result") {
            let want = value(raw);
            let want = want
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| want.to_string());
            if Some(&want) != out.result.as_ref() {
                let _ = writeln!(report, "  result: expected {want:?}, got {:?}", out.result);
            }
        } else if let Some(r) = out.result.as_ref().filter(|r| r.starts_with("error:")) {
            let _ = writeln!(report, "  unexpected {r}");
        }
        if !report.is_empty() {
            // Later steps depend on this one: one report per file.
            return Some(format!(
                "{} step {} ({} at {}):\n{report}",
                path.display(),
                out.index,
                out.input,
                out.at
            ));
        }
    }
    None
}

fn compare(report: &mut String, what: &str, expected: &[String], actual: &[String]) {
    if expected == actual {
        return;
    }
    let _ = writeln!(report, "  {what} differ:");
    for i in 0..expected.len().max(actual.len()) {
        let (e, a) = (expected.get(i), actual.get(i));
        if e != a {
            let _ = writeln!(
                report,
                "    [{i}] expected {}",
                e.map_or("(nothing)", String::as_str)
            );
            let _ = writeln!(
                report,
                "    [{i}]   actual {}",
                a.map_or("(nothing)", String::as_str)
            );
        }
    }
}

#[test]
fn every_vector_matches() {
    let files = vector_files();
    assert!(
        files.len() >= std::env::var("VECTOR_MIN").map_or(20, |v| v.parse().unwrap()),
        "expected the shared vectors, found {}",
        files.len()
    );
    let only = std::env::var("VECTOR").ok();
    let failures: Vec<String> = files
        .iter()
        .filter(|p| {
            only.as_deref()
                .is_none_or(|o| p.to_string_lossy().contains(o))
        })
        .filter_map(|p| run(p))
        .collect();
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_error_code_has_a_vector() {
    let all: String = vector_files()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for code in clawsocket_core::ErrorCode::ALL {
        let needle = format!("\"code\":\"{}\"", code.as_str());
        let spaced = format!("\"code\": \"{}\"", code.as_str());
        assert!(
            all.contains(&needle) || all.contains(&spaced),
            "no vector expects error code {code}"
        );
    }
}

#[test]
fn events_have_canonical_json() {
    // Every event kind appears in some vector.
    let all: String = vector_files()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for kind in [
        "verify_token",
        "provision_agent",
        "run_turn",
        "cancel_turn",
        "turn_finished",
        "pairing_requested",
        "pairing_approved",
        "fetch_history",
    ] {
        assert!(
            all.contains(&format!("\"event\": \"{kind}\""))
                || all.contains(&format!("\"event\":\"{kind}\"")),
            "no vector covers event {kind}"
        );
    }
}
