//! Smoke tests for tests/support: the demo fixture serves and pulls, and the oracle
//! reproduces the recorded dry run.
mod support;

use support::*;

#[test]
fn demo_fixture_serves_every_tag() {
    let store = fixture_copy("demo");
    assert!(store.v2().join("repositories").is_dir());
    assert!(store.files().len() > 100);
    let tags = fixture_tags("demo");
    assert!(tags.len() >= 10, "TAGS too short: {tags:?}");
    let served = store.serve();
    let failed: Vec<_> = served
        .pull_all(&tags)
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .collect();
    assert!(failed.is_empty(), "pulls failed: {failed:#?}");
}

#[test]
fn oracle_dry_run_matches_recording() {
    let store = fixture_copy("demo");
    let before = store.files();
    let out = run_oracle(&store, &["-d"]);
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let rec = recorded_oracle("demo", "dry");
    assert_eq!(rec.exit, 0);
    assert_eq!(summary_counts(&stdout), summary_counts(&rec.stdout));
    assert_eq!(eligible_blobs(&stdout), eligible_blobs(&rec.stdout));
    assert_eq!(normalize_stdout(&stdout), normalize_stdout(&rec.stdout));
    assert_eq!(store.files(), before, "a dry run must not change the store");
}
