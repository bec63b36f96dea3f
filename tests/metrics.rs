//! `--metrics-file`: the file passes `promtool check metrics`, its numbers
//! equal the JSON report's and the subcommands' own output, a failed run
//! writes success 0, and an unwritable path stops the run before it deletes.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::*;

/// `promtool check metrics` (lint included) must accept the file.
fn promtool_accepts(path: &Path) {
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(fs::File::open(path).unwrap())
        .output()
        .expect("run promtool (Debian package prometheus)");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics {}:\n{}{}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        fs::read_to_string(path).unwrap()
    );
}

/// Samples by `name{labels}` (the `command` label left out).
fn samples(path: &Path, command: &str) -> BTreeMap<String, f64> {
    let label = format!("command=\"{command}\"");
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').unwrap();
            let key = key
                .replace(&format!("{{{label}}}"), "")
                .replace(&format!("{label},"), "");
            assert!(!key.contains("command="), "{l}");
            (key, value.parse().unwrap())
        })
        .collect()
}

fn sub(store: &Store, command: &str, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_registry-gc"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            c.env_remove(k);
        }
    }
    c.arg(command).args(args).arg(&store.config);
    c.stdin(Stdio::null()).output().expect("run registry-gc")
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn gc_metrics_equal_the_json_report() {
    for args in [&["-d"][..], &["-dm"], &[], &["-m", "--grace-period", "1s"]] {
        let store = fixture_copy("demo");
        let (report, prom) = (
            store.dir.path().join("report.json"),
            store.dir.path().join("gc.prom"),
        );
        let (r, p) = (report.display().to_string(), prom.display().to_string());
        let mut full = args.to_vec();
        full.extend(["--report", &r, "--metrics-file", &p]);
        let before = std::time::SystemTime::now();
        let o = run_ours(&store, &full);
        ok(&o);
        promtool_accepts(&prom);
        let m = samples(&prom, "garbage-collect");
        let j: Value = serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
        let count = |k: &str| j["counts"][k].as_f64().unwrap();
        let bytes = |k: &str| j["bytes"][k].as_f64().unwrap();
        let expected = [
            ("registry_gc_last_run_repositories", count("repositories")),
            ("registry_gc_last_run_blobs_marked", count("blobs_marked")),
            (
                "registry_gc_last_run_blobs_eligible",
                count("blobs_eligible"),
            ),
            ("registry_gc_last_run_blobs_deleted", count("blobs_deleted")),
            (
                "registry_gc_last_run_manifests_eligible",
                count("manifests_eligible"),
            ),
            (
                "registry_gc_last_run_manifests_deleted",
                count("manifests_deleted"),
            ),
            (
                "registry_gc_last_run_tag_references_deleted",
                count("tag_references_deleted"),
            ),
            (
                "registry_gc_last_run_layer_links_eligible",
                count("layer_links_eligible"),
            ),
            (
                "registry_gc_last_run_layer_links_deleted",
                count("layer_links_deleted"),
            ),
            (
                "registry_gc_last_run_blobs_kept_young",
                count("blobs_kept_young"),
            ),
            (
                "registry_gc_last_run_manifests_kept_young",
                count("manifests_kept_young"),
            ),
            ("registry_gc_last_run_kept_young_bytes", bytes("kept_young")),
            ("registry_gc_last_run_reclaimable_bytes", bytes("eligible")),
            ("registry_gc_last_run_freed_bytes", bytes("freed")),
            ("registry_gc_last_run_unreadable_files", 0.0),
            ("registry_gc_last_run_success", 1.0),
            (
                "registry_gc_last_run_dry_run",
                f64::from(u8::from(j["mode"]["dry_run"] == true)),
            ),
        ];
        for (name, value) in expected {
            assert_eq!(m.get(name), Some(&value), "{name} with {args:?}");
        }
        let phases = j["phases"].as_array().unwrap();
        for p in phases {
            let key = format!(
                "registry_gc_last_run_phase_duration_seconds{{phase=\"{}\"}}",
                p["name"].as_str().unwrap()
            );
            assert_eq!(m.get(&key), p["seconds"].as_f64().as_ref(), "{key}");
        }
        let phase_samples = m.keys().filter(|k| k.contains("phase=")).count();
        assert_eq!(phase_samples, phases.len());
        let (start, end) = (
            m["registry_gc_last_run_start_timestamp_seconds"],
            m["registry_gc_last_run_end_timestamp_seconds"],
        );
        let before = before
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(before <= start && start <= end, "{before} {start} {end}");
        let took = m["registry_gc_last_run_duration_seconds"];
        assert!((end - start - took).abs() < 1e-3, "{start} {end} {took}");
        if args.is_empty() {
            assert_eq!(m["registry_gc_last_run_blobs_deleted"], 3.0);
            assert_eq!(m["registry_gc_last_run_freed_bytes"], 1198.0);
        }
    }
}

#[test]
fn a_failed_run_writes_success_0() {
    let store = fixture_copy("demo");
    let link = store.v2().join(
        "repositories/oci/image/_manifests/revisions/sha256/913b3dfcf891eb391e52e5492f0bf5ca92da847d29bb99cbfb37b1460dde7d46/link",
    );
    fs::write(&link, "garbage").unwrap();
    let before = store.files();
    let prom = store.dir.path().join("gc.prom");
    let o = run_ours(&store, &["-m", "--metrics-file", prom.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(store.files(), before);
    promtool_accepts(&prom);
    let m = samples(&prom, "garbage-collect");
    assert_eq!(m["registry_gc_last_run_success"], 0.0);
    assert_eq!(m["registry_gc_last_run_dry_run"], 0.0);
    assert!(!m.contains_key("registry_gc_last_run_blobs_deleted"));

    // --keep-going reads past it, deletes, and still exits 1: success 0.
    let o = run_ours(
        &store,
        &["--keep-going", "--metrics-file", prom.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    let m = samples(&prom, "garbage-collect");
    assert_eq!(m["registry_gc_last_run_success"], 0.0);
    assert_eq!(m["registry_gc_last_run_unreadable_files"], 1.0);
}

#[test]
fn a_bad_policy_file_writes_success_0() {
    let store = fixture_copy("demo");
    let (prom, policy) = (
        store.dir.path().join("prune.prom"),
        store.dir.path().join("policy.yml"),
    );
    fs::write(&policy, "rules:\n  - repo: '**'\n    keep_lats: 1\n").unwrap();
    let o = sub(
        &store,
        "prune-tags",
        &[
            "--policy",
            policy.to_str().unwrap(),
            "--metrics-file",
            prom.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    promtool_accepts(&prom);
    assert_eq!(
        samples(&prom, "prune-tags")["registry_gc_last_run_success"],
        0.0
    );
}

#[test]
fn an_unwritable_metrics_path_stops_the_run_before_it_deletes() {
    let store = fixture_copy("demo");
    let before = store.files();
    let missing = store.dir.path().join("no-such-dir/gc.prom");
    for command in ["garbage-collect", "prune-tags", "purge-uploads"] {
        let mut args = vec!["--metrics-file", missing.to_str().unwrap()];
        if command == "prune-tags" {
            args.extend(["--keep-last", "1"]);
        } else if command == "purge-uploads" {
            args.extend(["--older-than", "1m"]);
        }
        let o = sub(&store, command, &args);
        assert_eq!(o.status.code(), Some(1), "{command}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        let prefix = match command {
            "garbage-collect" => "failed to garbage collect",
            "prune-tags" => "failed to prune tags",
            _ => "failed to purge uploads",
        };
        assert!(
            stderr.starts_with(&format!(
                "{prefix}: cannot write metrics file {}: No such file or directory",
                missing.display()
            )),
            "{stderr}"
        );
        assert_eq!(store.files(), before, "{command}");
    }
    // A directory as the path is refused too.
    let o = run_ours(
        &store,
        &["-m", "--metrics-file", store.dir.path().to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(store.files(), before);
}

#[test]
fn prune_and_purge_metrics_equal_their_output() {
    let store = fixture_copy("demo");
    let prom = store.dir.path().join("prune.prom");
    let p = prom.to_str().unwrap();
    for (dry, deleted) in [(true, 0.0), (false, 7.0)] {
        let mut args = vec!["--keep-last", "1", "--metrics-file", p];
        if dry {
            args.push("-d");
        }
        let o = sub(&store, "prune-tags", &args);
        ok(&o);
        let stdout = String::from_utf8_lossy(&o.stdout);
        let lines = stdout.lines().filter(|l| l.contains(" ago")).count() as f64;
        promtool_accepts(&prom);
        let m = samples(&prom, "prune-tags");
        assert_eq!(m["registry_gc_last_run_tags_eligible"], lines, "{stdout}");
        assert_eq!(m["registry_gc_last_run_tags_deleted"], deleted, "{stdout}");
        assert_eq!(lines, 7.0, "{stdout}");
        assert_eq!(m["registry_gc_last_run_manifests_left_untagged"], 2.0);
        assert_eq!(m["registry_gc_last_run_success"], 1.0);
        assert!(m.contains_key("registry_gc_last_run_phase_duration_seconds{phase=\"plan\"}"));
        assert_eq!(
            m.contains_key("registry_gc_last_run_phase_duration_seconds{phase=\"delete\"}"),
            !dry
        );
    }

    let prom = store.dir.path().join("uploads.prom");
    let p = prom.to_str().unwrap();
    for (dry, deleted, freed) in [(true, 0.0, 0.0), (false, 1.0, 286.0)] {
        let mut args = vec!["--older-than", "1m", "--metrics-file", p];
        if dry {
            args.push("-d");
        }
        let o = sub(&store, "purge-uploads", &args);
        ok(&o);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("1 upload"), "{stdout}");
        assert!(stdout.contains("(286 B)"), "{stdout}");
        promtool_accepts(&prom);
        let m = samples(&prom, "purge-uploads");
        assert_eq!(m["registry_gc_last_run_uploads_eligible"], 1.0);
        assert_eq!(m["registry_gc_last_run_reclaimable_bytes"], 286.0);
        assert_eq!(m["registry_gc_last_run_uploads_deleted"], deleted);
        assert_eq!(m["registry_gc_last_run_freed_bytes"], freed);
        assert_eq!(m["registry_gc_last_run_dry_run"], f64::from(u8::from(dry)));
    }
}
