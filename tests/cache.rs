//! The mark cache through the binary: where it is written, that a second
//! run reads nothing it already knows and prints the same plan, and that a
//! damaged, unwritable or disabled cache changes nothing but a warning.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use support::*;

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one cache file in `dir`.
fn cache_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// A dry run's stdout and its `--report` JSON.
fn dry_run(store: &Store, extra: &[&str]) -> (String, serde_json::Value, String) {
    let report = store.dir.path().join("report.json");
    let report_arg = format!("--report={}", report.display());
    let mut args = vec!["-d", report_arg.as_str()];
    args.extend_from_slice(extra);
    let o = run_ours(store, &args);
    assert!(o.status.success(), "{}", err(&o));
    let json = serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    // --report=FILE keeps the text lines on stdout.
    (out(&o), json, err(&o))
}

#[test]
fn a_second_run_reads_no_manifest_and_no_unchanged_blob_prefix() {
    let store = fixture_copy("demo");
    // Blob prefix directories are remembered once unchanged for 5 s.
    std::thread::sleep(std::time::Duration::from_secs(6));
    let (first, r1, log1) = dry_run(&store, &[]);
    let file = cache_file(&store.dir.path().join("registry-gc"));
    assert!(file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("mark-"));
    // One lookup per revision (24); a manifest in two repositories is
    // read once, unless both asked for it at the same moment.
    assert!(log1.contains(" from the mark cache (none yet), "), "{log1}");
    let looked_up =
        r1["manifests"]["from_cache"].as_u64().unwrap() + r1["manifests"]["read"].as_u64().unwrap();
    assert_eq!(looked_up, 24, "{}", r1["manifests"]);
    let listed = r1["blob_prefixes"]["listed"].as_u64().unwrap();
    assert!(listed > 0, "{}", r1["blob_prefixes"]);
    let (second, r2, log2) = dry_run(&store, &[]);
    assert_eq!(second, first, "the same plan, byte for byte");
    assert_eq!(r2["manifests"]["read"], 0, "{log2}");
    assert_eq!(r2["manifests"]["from_cache"], 24);
    assert_eq!(r2["blob_prefixes"]["listed"], 0);
    assert_eq!(r2["blob_prefixes"]["from_cache"].as_u64(), Some(listed));
    assert!(
        log2.contains(&format!(
            "manifests: 24 from the mark cache, 0 read; blob prefix directories: {listed} unchanged, 0 listed; 22 manifests saved to {}",
            file.display()
        )),
        "{log2}"
    );
    // A real run from that cache deletes what the oracle did (its recording),
    // and its deletions change the prefixes: the next run lists them again.
    let before = store.files();
    let o = run_ours(&store, &[]);
    assert!(o.status.success(), "{}", err(&o));
    let oracle = recorded_oracle("demo", "real");
    assert_eq!(summary_counts(&out(&o)), summary_counts(&oracle.stdout));
    let gone: std::collections::BTreeSet<String> =
        before.difference(&store.files()).cloned().collect();
    assert!(oracle.deleted.unwrap().is_subset(&gone));
    let (_, r3, _) = dry_run(&store, &[]);
    assert!(
        r3["blob_prefixes"]["listed"].as_u64().unwrap() > 0,
        "{}",
        r3["blob_prefixes"]
    );
}

#[test]
fn a_damaged_cache_is_a_warning_and_is_rebuilt() {
    let store = fixture_copy("demo");
    let (first, _, _) = dry_run(&store, &[]);
    let file = cache_file(&store.dir.path().join("registry-gc"));
    let mut bytes = fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&file, &bytes).unwrap();
    let (again, report, log) = dry_run(&store, &[]);
    assert_eq!(again, first);
    assert!(
        log.contains(&format!(
            "level=warning msg=\"ignoring the mark cache {}: checksum mismatch (truncated or corrupt); it is rebuilt\"",
            file.display()
        )),
        "{log}"
    );
    assert!(
        report["manifests"]["read"].as_u64().unwrap() >= 22,
        "{}",
        report["manifests"]
    );
    let (_, report, log) = dry_run(&store, &[]);
    assert!(!log.contains("level=warning"), "{log}");
    assert_eq!(report["manifests"]["read"], 0);
    // Truncated, or another file entirely: the same.
    for damage in [&bytes[..10], &b"not a cache at all"[..]] {
        fs::write(&file, damage).unwrap();
        let (again, _, log) = dry_run(&store, &[]);
        assert_eq!(again, first);
        assert!(log.contains("ignoring the mark cache"), "{log}");
    }
}

#[test]
fn no_cache_writes_nothing_and_an_unwritable_cache_is_only_a_warning() {
    let store = fixture_copy("demo");
    let (first, report, log) = dry_run(&store, &["--no-cache"]);
    assert!(!store.dir.path().join("registry-gc").exists());
    assert_eq!(report["manifests"]["from_cache"], 0, "{log}");
    assert_eq!(report["manifests"]["read"], 24, "no memo either");
    assert!(!log.contains("manifests: "), "{log}");
    // A file where the directory should be.
    let blocked = store.dir.path().join("blocked");
    fs::write(&blocked, b"").unwrap();
    let (again, _, log) = dry_run(&store, &["--cache", blocked.to_str().unwrap()]);
    assert_eq!(again, first);
    assert!(
        log.contains("level=warning msg=\"could not write the mark cache"),
        "{log}"
    );
    let o = run_ours(&store, &["-d", "--cache=x", "--no-cache"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
}

#[test]
fn the_default_directory_is_under_home_without_xdg_cache_home() {
    let store = fixture_copy("demo");
    let home = store.dir.path().join("home");
    fs::create_dir(&home).unwrap();
    let o = ours_command(&store, &["-d"])
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    cache_file(&home.join(".cache/registry-gc"));
    // A relative XDG_CACHE_HOME is ignored, as the XDG spec says.
    let o = ours_command(&store, &["-d"])
        .env("XDG_CACHE_HOME", "relative")
        .env("HOME", &home)
        .current_dir(store.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(!store.dir.path().join("relative").exists());
}
