//! `garbage-collect --report` and the bytes line: the report's numbers
//! equal what the run actually deleted.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use support::*;

/// Size of every blob `data` file, by path relative to the root.
fn blob_sizes(store: &Store) -> BTreeMap<String, u64> {
    store
        .files()
        .into_iter()
        .filter(|f| f.contains("/blobs/") && f.ends_with("/data"))
        .map(|f| {
            let size = std::fs::metadata(store.root.join(&f)).unwrap().len();
            (f, size)
        })
        .collect()
}

fn freed(before: &BTreeMap<String, u64>, store: &Store) -> u64 {
    let after = blob_sizes(store);
    before
        .iter()
        .filter(|(f, _)| !after.contains_key(*f))
        .map(|(_, s)| s)
        .sum()
}

#[test]
fn report_bytes_equal_the_deleted_data_sizes() {
    for (args, blobs, manifests) in [(&[][..], 3, 0), (&["-m"][..], 19, 7)] {
        let store = fixture_copy("demo");
        let before = blob_sizes(&store);
        let path = store.dir.path().join("report.json");
        let mut full = args.to_vec();
        let path_arg = path.display().to_string();
        full.extend(["--report", &path_arg]);
        let o = run_ours(&store, &full);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let freed = freed(&before, &store);
        assert!(freed > 0);
        assert_eq!(r["bytes"]["freed"], freed);
        assert_eq!(r["bytes"]["eligible"], freed);
        assert_eq!(r["counts"]["blobs_deleted"], blobs);
        assert_eq!(r["counts"]["blobs_eligible"], blobs);
        assert_eq!(r["counts"]["manifests_deleted"], manifests);
        assert_eq!(r["outcome"], "completed");
        assert_eq!(r["mode"]["dry_run"], false);
        let per_repo: u64 = r["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["manifests_deleted"].as_u64().unwrap())
            .sum();
        assert_eq!(per_repo, manifests);
        let links: u64 = r["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["layer_links_deleted"].as_u64().unwrap())
            .sum();
        assert_eq!(r["counts"]["layer_links_deleted"], links);
        let phases: Vec<&str> = r["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            phases,
            [
                "discover",
                "enumerate blobs",
                "mark",
                "decide",
                "re-check",
                "sweep"
            ]
        );
        // The text output is unchanged and stderr ends with the bytes line.
        assert_eq!(summary_counts(&String::from_utf8_lossy(&o.stdout)).1, blobs);
        let stderr = String::from_utf8_lossy(&o.stderr);
        let human = registry_gc::units::human_bytes(freed);
        assert!(
            stderr.contains(&format!("msg=\"freed {human} in {blobs} blobs\"")),
            "{stderr}"
        );
    }
}

#[test]
fn report_matches_the_generator_model_and_the_freed_bytes() {
    let args = [
        "--repos",
        "6",
        "--manifests",
        "24",
        "--orphans",
        "9",
        "--seed",
        "7",
    ];
    for (flags, blobs, manifests, links) in [
        (&[][..], "eligible_blobs", None, "dangling_layer_links"),
        (
            &["-m"][..],
            "eligible_blobs_m",
            Some("eligible_manifests_m"),
            "dangling_layer_links_m",
        ),
    ] {
        let store = synth_store(&args);
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(store.root.join("expected.json")).unwrap(),
        )
        .unwrap();
        let before = blob_sizes(&store);
        let mut full = flags.to_vec();
        full.extend(["--report", "-"]);
        let o = run_ours(&store, &full);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["counts"]["blobs_deleted"], expected[blobs]);
        assert_eq!(
            r["counts"]["manifests_deleted"],
            manifests.map_or(Value::from(0), |m| expected[m].clone())
        );
        assert_eq!(r["counts"]["layer_links_deleted"], expected[links]);
        assert_eq!(r["bytes"]["freed"], freed(&before, &store));
    }
}

#[test]
fn report_to_stdout_replaces_the_text_lines() {
    let store = fixture_copy("demo");
    let before = store.files();
    let o = run_ours(&store, &["-d", "-m", "--report", "-"]);
    assert!(o.status.success());
    let r: Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    assert_eq!(r["mode"]["dry_run"], true);
    assert_eq!(r["counts"]["blobs_eligible"], 19);
    assert_eq!(r["counts"]["blobs_deleted"], 0);
    assert_eq!(r["bytes"]["freed"], 0);
    assert_eq!(r["recheck"], Value::Null);
    assert_eq!(store.files(), before);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let eligible = r["bytes"]["eligible"].as_u64().unwrap();
    let human = registry_gc::units::human_bytes(eligible);
    assert!(
        stderr.contains(&format!("msg=\"reclaimable: {human} in 19 blobs\"")),
        "{stderr}"
    );
}

#[test]
fn every_field_is_documented() {
    let store = fixture_copy("demo");
    let o = run_ours(&store, &["-d", "--grace-period", "1h", "--report", "-"]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let doc = std::fs::read_to_string(project_root().join("docs/gc-report.md")).unwrap();
    let mut keys = Vec::new();
    fn collect(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push(key.clone());
                collect(v, &key, out);
            }),
            Value::Array(a) => a
                .iter()
                .for_each(|v| collect(v, &format!("{prefix}[]"), out)),
            _ => {}
        }
    }
    collect(&r, "", &mut keys);
    keys.sort();
    keys.dedup();
    for k in keys {
        assert!(
            doc.contains(&format!("`{k}`")),
            "docs/gc-report.md does not document `{k}`"
        );
    }
}
