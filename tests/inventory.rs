//! `registry-gc inventory`: its predictions equal the bytes `garbage-collect`
//! and `garbage-collect -m` then free, on the recorded demo store and on
//! stores written by `examples/synth-store.rs`; its JSON validates against
//! `docs/inventory.schema.json`; table, CSV, `--repo` and `--tags`.

mod support;

use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::{fixture_copy, fixture_tags, run_ours, synth_store, Store};

/// `registry-gc inventory <args> <config>`, without `REGISTRY_*` variables.
fn inventory(store: &Store, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_registry-gc"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            c.env_remove(k);
        }
    }
    c.arg("inventory").args(args).arg(&store.config);
    c.stdin(Stdio::null())
        .output()
        .expect("run registry-gc inventory")
}

fn stdout_of(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `inventory --format json <args>`, checked against the schema.
fn inventory_json(store: &Store, args: &[&str]) -> Value {
    let args: Vec<&str> = ["--format", "json"].iter().chain(args).copied().collect();
    let doc: Value = serde_json::from_str(&stdout_of(inventory(store, &args))).unwrap();
    validate(&doc);
    doc
}

/// Sum of the sizes of every `blobs/**/data` file.
fn blob_bytes(store: &Store) -> u64 {
    fn walk(dir: &Path) -> u64 {
        let Ok(entries) = fs::read_dir(dir) else {
            return 0;
        };
        entries
            .map(|e| e.unwrap())
            .map(|e| match e.file_type().unwrap() {
                t if t.is_dir() => walk(&e.path()),
                t if t.is_file() && e.file_name() == "data" => e.metadata().unwrap().len(),
                _ => 0,
            })
            .sum()
    }
    walk(&store.v2().join("blobs"))
}

fn n(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{v} is not a non-negative integer"))
}

/// Bytes a real `garbage-collect <args>` frees on `store`.
fn freed_by_gc(store: &Store, args: &[&str]) -> u64 {
    let before = blob_bytes(store);
    let out = run_ours(store, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    before - blob_bytes(store)
}

/// Takes the inventory of two copies of a store, runs a plain GC on one
/// and `-m` on the other, and checks every prediction against the bytes
/// freed and against the inventory taken afterwards. Returns the
/// prediction and what each run freed.
fn check_predictions(make: impl Fn() -> Store) -> (Value, u64, u64) {
    let plain = make();
    let inv = inventory_json(&plain, &[]);
    let st = &inv["store"];
    let (tagged, untagged_only, orphan) = (
        n(&st["tagged_bytes"]),
        n(&st["untagged_only_bytes"]),
        n(&st["orphan_bytes"]),
    );
    assert_eq!(n(&st["bytes"]), blob_bytes(&plain));
    assert_eq!(tagged + untagged_only + orphan, n(&st["bytes"]));
    let freed = freed_by_gc(&plain, &[]);
    assert_eq!(orphan, freed, "orphan bytes vs what garbage-collect freed");
    let after = inventory_json(&plain, &[]);
    assert_eq!(n(&after["store"]["orphan_bytes"]), 0);
    assert_eq!(n(&after["store"]["untagged_only_bytes"]), untagged_only);

    let m = make();
    let inv_m = inventory_json(&m, &[]);
    assert_eq!(inv_m["store"], inv["store"], "same store, same inventory");
    let freed_m = freed_by_gc(&m, &["-m"]);
    assert_eq!(
        untagged_only + orphan,
        freed_m,
        "untagged-only + orphan bytes vs what garbage-collect -m freed"
    );
    let after = inventory_json(&m, &[]);
    assert_eq!(n(&after["store"]["bytes"]), tagged);
    assert_eq!(n(&after["store"]["untagged_only_bytes"]), 0);
    for repo in after["repositories"].as_array().unwrap() {
        assert_eq!(n(&repo["untagged_manifests"]), 0, "{repo}");
    }
    (inv, freed, freed_m)
}

#[test]
fn predictions_match_the_collector_on_the_recorded_store() {
    let (inv, freed, freed_m) = check_predictions(|| fixture_copy("demo"));
    assert!(freed > 0 && freed_m > freed, "{freed} {freed_m}");
    eprintln!("demo: predicted {inv}, freed {freed} (plain) and {freed_m} (-m)");
    // Per repository: counts add up, unique and tagged are parts of bytes.
    let repos = inv["repositories"].as_array().unwrap();
    assert_eq!(repos.len() as u64, n(&inv["store"]["repositories"]));
    for r in repos {
        assert_eq!(
            n(&r["manifests"]),
            n(&r["tagged_manifests"]) + n(&r["untagged_manifests"])
        );
        assert!(n(&r["unique_bytes"]) <= n(&r["bytes"]));
        assert!(n(&r["tagged_bytes"]) <= n(&r["bytes"]));
    }
    let bytes: Vec<u64> = repos.iter().map(|r| n(&r["bytes"])).collect();
    assert!(bytes.windows(2).all(|w| w[0] >= w[1]), "sorted: {bytes:?}");
}

#[test]
fn predictions_match_the_collector_on_generated_stores() {
    let shapes: [&[&str]; 2] = [
        &["--repos", "3", "--manifests", "8", "--seed", "1"],
        &[
            "--repos",
            "8",
            "--manifests",
            "12",
            "--orphans",
            "7",
            "--untagged-fraction",
            "0.4",
            "--seed",
            "5",
        ],
    ];
    for shape in shapes {
        // The generator's own model of the store agrees on the counts.
        let probe = synth_store(shape);
        let expected: Value =
            serde_json::from_str(&fs::read_to_string(probe.root.join("expected.json")).unwrap())
                .unwrap();
        let inv = inventory_json(&probe, &[]);
        let (st, repos) = (&inv["store"], inv["repositories"].as_array().unwrap());
        let sum = |key: &str| repos.iter().map(|r| n(&r[key])).sum::<u64>();
        assert_eq!(n(&st["blobs"]), n(&expected["blobs"]));
        assert_eq!(n(&st["repositories"]), n(&expected["repositories"]));
        assert_eq!(n(&st["orphan_blobs"]), n(&expected["eligible_blobs"]));
        assert_eq!(n(&st["tagged_blobs"]), n(&expected["marked_m"]));
        assert_eq!(
            n(&st["orphan_blobs"]) + n(&st["untagged_only_blobs"]),
            n(&expected["eligible_blobs_m"])
        );
        assert_eq!(sum("tag_count"), n(&expected["details"]["tags"]));
        assert_eq!(
            sum("untagged_manifests"),
            n(&expected["eligible_manifests_m"])
        );

        let (inv, freed, freed_m) = check_predictions(|| synth_store(shape));
        let st = &inv["store"];
        assert!(freed > 0 && freed_m > freed, "{shape:?}: {freed} {freed_m}");
        assert!(n(&st["repositories"]) >= 3, "{st}");
        eprintln!("{shape:?}: predicted {st}, freed {freed} (plain) and {freed_m} (-m)");
    }
}

#[test]
fn table_and_csv_agree_with_json() {
    let store = fixture_copy("demo");
    let doc = inventory_json(&store, &[]);
    let repos = doc["repositories"].as_array().unwrap();
    let table = stdout_of(inventory(&store, &[]));
    let (repo_block, totals) = table.split_once("\n\n").unwrap();
    let lines: Vec<&str> = repo_block.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "REPOSITORY",
            "TAGS",
            "MANIFESTS",
            "TAGGED",
            "UNTAGGED",
            "BLOBS",
            "REFERENCED",
            "UNIQUE"
        ]
    );
    assert_eq!(lines.len(), repos.len() + 1);
    assert!(
        lines.iter().all(|l| l.len() == lines[0].len()),
        "aligned:\n{repo_block}"
    );
    for (line, r) in lines[1..].iter().zip(repos) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[0], r["name"]);
        assert_eq!(cells[2], r["manifests"].to_string());
        assert_eq!(cells[5], r["blobs"].to_string());
    }
    assert!(totals.contains("10 repositories in the store"), "{totals}");
    let orphan = totals.lines().find(|l| l.starts_with("orphaned")).unwrap();
    let orphan_bytes = n(&doc["store"]["orphan_bytes"]);
    let human = registry_gc::units::human_bytes(orphan_bytes);
    assert!(orphan.contains(&format!("  {human}  ")), "{orphan}");

    let csv = stdout_of(inventory(&store, &["--format", "csv"]));
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = rows.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), repos.len());
    for (row, r) in rows.iter().zip(repos) {
        assert_eq!(row.len(), header.len());
        for (column, cell) in header.iter().zip(row) {
            let key = match *column {
                "repository" => "name",
                "tags" => "tag_count",
                other => other,
            };
            let want = match &r[key] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            assert_eq!(*cell, want, "{column} of {}", r["name"]);
        }
    }
}

#[test]
fn repo_filter_keeps_store_totals() {
    let store = fixture_copy("demo");
    let all = inventory_json(&store, &[]);
    let names = |doc: &Value| -> Vec<String> {
        let repos = doc["repositories"].as_array().unwrap();
        let mut names: Vec<String> = repos
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    let multi = inventory_json(&store, &["--repo", "multi/*"]);
    assert_eq!(names(&multi), ["multi/tool-docker", "multi/tool-oci"]);
    assert_eq!(multi["store"], all["store"]);
    let team = inventory_json(&store, &["--repo", "team/**", "--repo", "library/base"]);
    assert_eq!(names(&team), ["library/base", "team/app", "team/app/api"]);
    let top = inventory_json(&store, &["--repo", "team/*"]);
    assert_eq!(names(&top), ["team/app"]);
    let none = inventory_json(&store, &["--repo", "nothing*"]);
    assert!(names(&none).is_empty());
    let table = stdout_of(inventory(&store, &["--repo", "multi/*"]));
    assert_eq!(table.split("\n\n").next().unwrap().lines().count(), 3);
}

#[test]
fn tags_list_digest_push_time_and_size() {
    let store = fixture_copy("demo");
    let doc = inventory_json(&store, &["--tags"]);
    let mut listed = Vec::new();
    for r in doc["repositories"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        let tags = r["tags"].as_array().unwrap();
        assert_eq!(tags.len() as u64, n(&r["tag_count"]));
        for t in tags {
            let tag = t["name"].as_str().unwrap();
            listed.push(format!("{name}:{tag}"));
            assert_eq!(t["digest"].as_str(), store.tag_digest(name, tag).as_deref());
            let link = store
                .repo(name)
                .join("_manifests/tags")
                .join(tag)
                .join("current/link");
            let mtime = fs::metadata(&link).unwrap().modified().unwrap();
            let pushed = humantime::format_rfc3339_seconds(mtime).to_string();
            assert_eq!(t["pushed"], pushed.as_str());
            let bytes = n(&t["bytes"]);
            assert!(bytes > 0 && bytes <= n(&r["tagged_bytes"]), "{t}");
        }
    }
    // Every pullable tag, and `broken`, whose tag is intact but whose layer
    // was unlinked through the API.
    let mut recorded = fixture_tags("demo");
    recorded.push("deleted/blob:broken".into());
    listed.sort();
    recorded.sort();
    assert_eq!(listed, recorded);
    // A one-image tag's size is its manifest, config and layers.
    let base = doc["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "library/base")
        .unwrap();
    assert_eq!(n(&base["tags"][0]["bytes"]), n(&base["bytes"]));
    assert!(inventory_json(&store, &[])["repositories"][0]
        .get("tags")
        .is_none());

    let table = stdout_of(inventory(&store, &["--tags"]));
    let tag_block = table.split("\n\n").nth(2).unwrap();
    assert!(tag_block.starts_with("REPOSITORY"), "{tag_block}");
    assert_eq!(tag_block.lines().count(), listed.len() + 1);
    let csv = stdout_of(inventory(&store, &["--format", "csv", "--tags"]));
    assert!(csv.starts_with("repository,tag,digest,pushed,bytes\n"));
    assert_eq!(csv.lines().count(), listed.len() + 1);
}

#[test]
fn reads_only_and_takes_no_lock() {
    let store = fixture_copy("demo");
    let listing = |s: &Store| -> Vec<(String, std::time::SystemTime)> {
        s.files()
            .into_iter()
            .map(|f| {
                let mtime = fs::metadata(s.root.join(&f)).unwrap().modified().unwrap();
                (f, mtime)
            })
            .collect()
    };
    let before = listing(&store);
    stdout_of(inventory(&store, &["--tags"]));
    assert_eq!(listing(&store), before);
    assert!(!store.root.join("registry-gc.lock").exists());
    assert_eq!(store.empty_dirs(), fixture_copy("demo").empty_dirs());
}

#[test]
fn errors_and_usage() {
    let store = fixture_copy("demo");
    let out = inventory(&store, &["--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = inventory(&store, &["--bogus"]);
    assert_eq!(out.status.code(), Some(2));

    let link = store
        .repo("library/base")
        .join("_manifests/tags/latest/current/link");
    fs::write(&link, "not a digest").unwrap();
    let out = inventory(&store, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.starts_with("failed to take inventory: failed to mark: ")
            && err.contains(&link.display().to_string()),
        "{err}"
    );

    fs::remove_dir_all(store.v2().join("blobs")).unwrap();
    let out = inventory(&store, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/docker/registry/v2/blobs"), "{err}");
}

/// Validates `doc` against `docs/inventory.schema.json` with the subset of
/// JSON Schema 2020-12 that the schema uses (an unknown keyword fails).
fn validate(doc: &Value) {
    let path = support::project_root().join("docs/inventory.schema.json");
    let schema: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    if let Err(e) = check(&schema, &schema, doc, "$") {
        panic!("inventory JSON does not match the schema: {e}\n{doc:#}");
    }
}

fn check(root: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = schema.as_object().expect("schema object");
    for (key, rule) in schema {
        match key.as_str() {
            "$schema" | "$id" | "$defs" | "title" | "description" | "format" => {}
            "$ref" => {
                let name = rule.as_str().unwrap().strip_prefix("#/$defs/").unwrap();
                check(root, &root["$defs"][name], v, at)?;
            }
            "type" => {
                let ok = match rule.as_str().unwrap() {
                    "object" => v.is_object(),
                    "array" => v.is_array(),
                    "string" => v.is_string(),
                    "integer" => v.is_i64() || v.is_u64(),
                    "null" => v.is_null(),
                    other => panic!("type {other} not supported"),
                };
                if !ok {
                    return Err(format!("{at}: {v} is not of type {rule}"));
                }
            }
            "const" if v != rule => return Err(format!("{at}: {v} is not {rule}")),
            "const" => {}
            "minimum" if v.as_f64() < rule.as_f64() => {
                return Err(format!("{at}: {v} is less than {rule}"))
            }
            "minimum" => {}
            "pattern" => {
                let re = regex::Regex::new(rule.as_str().unwrap()).unwrap();
                if !v.as_str().is_some_and(|s| re.is_match(s)) {
                    return Err(format!("{at}: {v} does not match {rule}"));
                }
            }
            "required" => {
                for name in rule.as_array().unwrap() {
                    if v.get(name.as_str().unwrap()).is_none() {
                        return Err(format!("{at}: missing {name}"));
                    }
                }
            }
            "properties" => {
                for (name, sub) in rule.as_object().unwrap() {
                    if let Some(field) = v.get(name) {
                        check(root, sub, field, &format!("{at}.{name}"))?;
                    }
                }
            }
            "additionalProperties" => {
                assert_eq!(rule, &Value::Bool(false), "only `false` is supported");
                let known = schema["properties"].as_object().unwrap();
                if let Some(extra) = v
                    .as_object()
                    .and_then(|o| o.keys().find(|k| !known.contains_key(*k)))
                {
                    return Err(format!("{at}: unexpected field {extra}"));
                }
            }
            "items" => {
                for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                    check(root, rule, item, &format!("{at}[{i}]"))?;
                }
            }
            "anyOf" => {
                let options = rule.as_array().unwrap();
                if !options.iter().any(|o| check(root, o, v, at).is_ok()) {
                    return Err(format!("{at}: {v} matches none of {rule}"));
                }
            }
            other => panic!("schema keyword {other} not supported by this test's validator"),
        }
    }
    Ok(())
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    let store = fixture_copy("demo");
    let doc = inventory_json(&store, &["--tags"]);
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut d = doc.clone();
        edit(&mut d);
        let path = support::project_root().join("docs/inventory.schema.json");
        let schema: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        check(&schema, &schema, &d, "$").unwrap_err()
    };
    assert!(broken(&|d| d["store"]["extra"] = 1.into()).contains("unexpected field"));
    assert!(broken(&|d| d["schema_version"] = 2.into()).contains("is not 1"));
    let e = broken(&|d| d["repositories"][0]["tags"][0]["digest"] = "sha256:xyz".into());
    assert!(e.contains("matches none"), "{e}");
    let e = broken(&|d| {
        d["repositories"][0]
            .as_object_mut()
            .unwrap()
            .remove("bytes");
    });
    assert!(e.contains("missing \"bytes\""), "{e}");
}

#[test]
fn readme_examples_are_current() {
    let readme = fs::read_to_string(support::project_root().join("README.md")).unwrap();
    let example = |command: &str| -> String {
        let (_, rest) = readme
            .split_once(&format!("$ registry-gc inventory {command}\n"))
            .unwrap_or_else(|| panic!("README shows `{command}`"));
        let end = ["\n$ ", "```"]
            .iter()
            .filter_map(|m| rest.find(m))
            .min()
            .unwrap();
        rest[..end].trim_end().to_string()
    };
    let store = fixture_copy("demo");
    let ours = |args: &[&str]| stdout_of(inventory(&store, args)).trim_end().to_string();
    assert_eq!(example("fixtures/demo/config.yml"), ours(&[]));
    assert_eq!(
        example("--format csv --repo 'team/**' fixtures/demo/config.yml"),
        ours(&["--format", "csv", "--repo", "team/**"])
    );
}

#[test]
fn a_repo_glob_that_matches_nothing_is_warned_about() {
    let store = fixture_copy("demo");
    let out = inventory(
        &store,
        &["--format", "csv", "--repo", "team/**", "--repo", "tema/**"],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let csv = stdout_of(out);
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(
        err.contains("level=warning msg=\"--repo tema/** matches no repository\""),
        "{err}"
    );
    assert!(!err.contains("--repo team/**"), "{err}");
}

#[test]
fn keep_going_counts_what_a_broken_repository_might_reference() {
    // One broken tag link: without --keep-going the whole inventory fails;
    // with it, the table comes out, the file is listed, exit 1, and the
    // predictions are what `garbage-collect --keep-going` then frees.
    let make = || {
        let store = fixture_copy("demo");
        let link = store
            .repo("library/base")
            .join("_manifests/tags/latest/current/link");
        fs::write(&link, "garbage").unwrap();
        (store, link)
    };
    let (store, link) = make();
    let link = link.canonicalize().unwrap();
    let out = inventory(&store, &["--tags"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("failed to take inventory: failed to mark: failed to retrieve tags: invalid checksum digest format (in {})\n", link.display())
    );
    let out = inventory(&store, &["--tags", "--keep-going", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("level=error msg=\"unreadable, counted as referencing everything it might: failed to retrieve tags: invalid checksum digest format (in {})\"", link.display())), "{err}");
    assert!(err.ends_with("failed to take inventory: 1 unreadable file (listed above); everything it might reference was counted as referenced\n"), "{err}");
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    validate(&inv);
    let st = &inv["store"];
    let gc = |args: &[&str], exit| {
        let (store, _) = make();
        let before = blob_bytes(&store);
        let out = run_ours(&store, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(exit), "{stderr}");
        before - blob_bytes(&store)
    };
    // Tags are read only with -m: the plain collection meets no fault.
    assert_eq!(n(&st["orphan_bytes"]), gc(&["--keep-going"], 0));
    assert_eq!(
        n(&st["orphan_bytes"]) + n(&st["untagged_only_bytes"]),
        gc(&["-m", "--keep-going"], 1)
    );
}
