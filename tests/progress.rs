//! The progress line on a terminal, run under a pseudo-terminal made by
//! util-linux's `script`.

mod support;

use std::process::{Command, Stdio};
use support::*;

/// Runs `registry-gc garbage-collect ARGS CONFIG` with stderr on a
/// pseudo-terminal (stdout to /dev/null) and returns what the terminal got.
fn on_a_terminal(store: &Store, args: &str) -> String {
    let line = format!(
        "'{}' garbage-collect {args} '{}' >/dev/null",
        env!("CARGO_BIN_EXE_registry-gc"),
        store.config.display()
    );
    let o = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("run script (util-linux)");
    let tty = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{tty}");
    tty
}

#[test]
fn the_progress_line_shows_the_sweep_against_its_total() {
    let store = fixture_copy("demo");
    let report = store.root.join("report.json");
    let tty = on_a_terminal(&store, &format!("-m --report '{}'", report.display()));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let c = &r["counts"];
    let total: u64 = [
        "tag_references_deleted",
        "manifests_deleted",
        "blobs_deleted",
        "layer_links_deleted",
    ]
    .iter()
    .map(|k| c[k].as_u64().unwrap())
    .sum();
    assert!(total > 0, "{r}");
    let shown: Vec<u64> = tty
        .match_indices("sweeping: ")
        .filter_map(|(i, _)| {
            let (done, rest) = tty[i + 10..].split_once('/')?;
            assert!(rest.starts_with(&format!("{total} deletions")), "{tty}");
            done.parse().ok()
        })
        .collect();
    assert!(!shown.is_empty(), "no sweep on the progress line:\n{tty}");
    assert!(shown.iter().all(|&n| n <= total), "{shown:?}");
    // Log lines after the last deletion redraw the line: it ends complete.
    assert_eq!(shown.iter().max(), Some(&total), "{shown:?}");
}

#[test]
fn a_dry_run_never_shows_a_sweep() {
    let store = fixture_copy("demo");
    let tty = on_a_terminal(&store, "-dm");
    assert!(tty.contains("planning: "), "no progress line:\n{tty}");
    assert!(!tty.contains("sweeping"), "{tty}");
}
