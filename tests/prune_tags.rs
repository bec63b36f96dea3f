//! `registry-gc prune-tags` on copies of the recorded demo store: every rule
//! and its precedence, with tag ages set through the mtime of
//! `current/link`, and an end-to-end run (prune-tags, garbage-collect -m,
//! pulls from the real registry).

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};
use support::{fixture_copy, fixture_tags, Store};

const DAY: Duration = Duration::from_secs(86400);
/// One reference time for every push time, so equal ages are equal mtimes.
static NOW: LazyLock<SystemTime> = LazyLock::new(SystemTime::now);

/// `registry-gc <sub> <args> <config>` without `REGISTRY_*` variables.
fn rgc(store: &Store, sub: &str, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_registry-gc"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            c.env_remove(k);
        }
    }
    c.arg(sub)
        .args(args)
        .arg(&store.config)
        .stdin(Stdio::null());
    c.output().expect("run registry-gc")
}

fn prune(store: &Store, args: &[&str]) -> Output {
    rgc(store, "prune-tags", args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// stdout of a run that must succeed.
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The `repo:tag` of each deleted (or eligible) line, sorted.
fn listed(stdout: &str) -> Vec<String> {
    let mut v: Vec<String> = stdout
        .lines()
        .filter(|l| {
            l.contains(" eligible for deletion, pushed ") || l.contains(" deleted, pushed ")
        })
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// Sets the push time of `repo:tag` to `days` days ago.
fn pushed(store: &Store, repo: &str, tag: &str, days: f64) {
    let link = store
        .repo(repo)
        .join("_manifests/tags")
        .join(tag)
        .join("current/link");
    let when = *NOW - DAY.mul_f64(days);
    fs::File::options()
        .write(true)
        .open(&link)
        .and_then(|f| f.set_modified(when))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", link.display()));
}

/// Every tag of the demo store (including `deleted/blob:broken`), as `repo:tag`.
fn all_tags(store: &Store) -> BTreeSet<String> {
    store
        .files()
        .into_iter()
        .filter_map(|f| {
            let rest = f.strip_prefix("docker/registry/v2/repositories/")?;
            let rest = rest.strip_suffix("/current/link")?;
            let (repo, tag) = rest.split_once("/_manifests/tags/")?;
            Some(format!("{repo}:{tag}"))
        })
        .collect()
}

/// A demo copy where every tag was pushed `days` days ago.
fn aged(days: f64) -> Store {
    let store = fixture_copy("demo");
    for t in all_tags(&store) {
        let (repo, tag) = t.split_once(':').unwrap();
        pushed(&store, repo, tag, days);
    }
    store
}

fn without(all: &BTreeSet<String>, gone: &[&str]) -> BTreeSet<String> {
    let gone: BTreeSet<String> = gone.iter().map(|s| s.to_string()).collect();
    all.difference(&gone).cloned().collect()
}

#[test]
fn refuses_to_run_without_a_selecting_rule() {
    let store = aged(100.0);
    let before = store.files();
    for args in [
        &[][..],
        &["--keep", "^latest$"],
        &["--match", ".", "--repo", "**"],
        &["-d"],
    ] {
        let out = prune(&store, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("refusing to run: no selecting rule"), "{err}");
        assert!(err.ends_with('\n'));
        assert!(out.stdout.is_empty());
    }
    for args in [
        &["--keep-last", "0"][..],
        &["--older-than", "soon"],
        &["--older-than", "0s"],
        &["--older-than", "0d", "--keep-last", "3"],
        &["--keep", "("],
        &["--older-than", "1d", "--policy", "p.yml"],
    ] {
        assert_eq!(prune(&store, args).status.code(), Some(2), "{args:?}");
    }
    let out = prune(&store, &["--older-than", "0s"]);
    assert_eq!(
        text(&out.stderr),
        "error: refusing to run: --older-than must be longer than 0 (prune-tags never deletes every tag)\n\nUsage: registry-gc prune-tags [OPTIONS] [CONFIG]\n\nFor more information, try '--help'.\n"
    );
    let out = prune(&store, &["--older-than", "soon"]);
    assert!(text(&out.stderr).starts_with("error: invalid value 'soon' for '--older-than <DURATION>': not a duration (a number and a unit, such as 90m, 36h, 30d or 2w)\n"), "{}", text(&out.stderr));
    assert_eq!(store.files(), before, "nothing deleted");
}

#[test]
fn a_repo_glob_that_matches_nothing_is_warned_about() {
    let store = aged(100.0);
    let out = prune(
        &store,
        &[
            "-d",
            "--older-than",
            "30d",
            "--repo",
            "oci/image",
            "--repo",
            "oci/imagez",
        ],
    );
    let stdout = ok(out.clone());
    assert!(!listed(&stdout).is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains("level=warning msg=\"--repo oci/imagez matches no repository\""),
        "{err}"
    );
    assert!(!err.contains("--repo oci/image matches"), "{err}");
}

#[test]
fn older_than_deletes_only_the_tag_directories_of_old_tags() {
    let store = aged(100.0);
    pushed(&store, "oci/image", "v2", 10.0);
    pushed(&store, "library/base", "latest", 29.0);
    let before = store.files();
    let dry = ok(prune(&store, &["-d", "--older-than", "30d"]));
    assert_eq!(store.files(), before, "a dry run changes nothing");
    let want = without(&all_tags(&store), &["oci/image:v2", "library/base:latest"]);
    assert_eq!(listed(&dry), Vec::from_iter(want.clone()));
    assert!(
        dry.contains("oci/image:edge eligible for deletion, pushed 100d0h ago"),
        "{dry}"
    );
    let real = ok(prune(&store, &["--older-than", "30d"]));
    assert_eq!(
        dry.replace("eligible for deletion", "deleted")
            .replace(" would be left", " left"),
        real,
        "a real run deletes what the dry run listed"
    );
    // Exactly the files under the deleted tags' directories are gone.
    let gone: BTreeSet<String> = before.difference(&store.files()).cloned().collect();
    let expected: BTreeSet<String> = before
        .iter()
        .filter(|f| {
            want.iter().any(|t| {
                let (repo, tag) = t.split_once(':').unwrap();
                f.starts_with(&format!(
                    "docker/registry/v2/repositories/{repo}/_manifests/tags/{tag}/"
                ))
            })
        })
        .cloned()
        .collect();
    assert_eq!(gone, expected);
    assert_eq!(
        all_tags(&store),
        BTreeSet::from(["oci/image:v2".into(), "library/base:latest".into()])
    );
    // Manifests, revisions and blobs stay: GC -m reclaims them.
    let edge = "sha256:fa41f8477b277b2c9c9ebb21df1832a24719598403d71741d4c5fadcb9c684f8";
    assert!(store.blob_data(edge).is_file());
    assert!(store
        .repo("oci/image/_manifests/revisions/sha256")
        .join(&edge[7..])
        .join("link")
        .is_file());
    assert!(real.contains("left untagged: `registry-gc garbage-collect -m` reclaims them"));
    // Deleted tag directories are logged as upstream logs paths.
    let log = text(&prune(&store, &["--older-than", "1s", "--repo", "oci/image"]).stderr);
    assert!(
        log.contains(
            r#"msg="deleting tag: /docker/registry/v2/repositories/oci/image/_manifests/tags/v2""#
        ),
        "{log}"
    );
}

#[test]
fn deleting_one_of_two_tags_on_a_manifest_keeps_the_other_pullable() {
    let store = aged(100.0);
    let digest = store.tag_digest("library/base", "1.0").unwrap();
    assert_eq!(store.tag_digest("library/base", "latest").unwrap(), digest);
    let out = ok(prune(
        &store,
        &[
            "--older-than",
            "1d",
            "--repo",
            "library/base",
            "--match",
            r"^1\.0$",
        ],
    ));
    assert_eq!(listed(&out), ["library/base:1.0"]);
    assert!(
        out.ends_with("1 tag deleted in 1 repository, 2 kept; no manifest is left untagged\n"),
        "{out}"
    );
    assert_eq!(store.tag_digest("library/base", "1.0"), None);
    assert!(store
        .repo("library/base")
        .join("_manifests/revisions/sha256")
        .join(&digest[7..])
        .join("link")
        .is_file());
    let served = store.serve();
    served
        .pull("library/base:1")
        .expect("other tag still pulls");
    served
        .pull("library/base:latest")
        .expect("other tag still pulls");
    served
        .pull(&format!("library/base@{digest}"))
        .expect("manifest still pulls by digest");
    assert!(
        served.pull("library/base:1.0").is_err(),
        "deleted tag is gone"
    );
}

#[test]
fn keep_regexes_win_over_every_deleting_rule() {
    let store = aged(100.0);
    let repo = ["--repo", "oci/image"];
    // older-than alone, keep-last alone, both: v1 always stays.
    for rules in [
        &["--older-than", "1d"][..],
        &["--keep-last", "1"],
        &["--older-than", "1s", "--keep-last", "1"],
    ] {
        pushed(&store, "oci/image", "v1", 100.0);
        pushed(&store, "oci/image", "v2", 50.0);
        pushed(&store, "oci/image", "edge", 2.0);
        let args = [&repo[..], rules, &["--keep", "^v1$", "-d", "-v"]].concat();
        let out = ok(prune(&store, &args));
        assert!(
            !listed(&out).contains(&"oci/image:v1".to_string()),
            "{args:?}: {out}"
        );
        assert!(
            out.contains("oci/image:v1 kept: matches --keep ^v1$"),
            "{out}"
        );
    }
    // Several --keep: any of them keeps.
    for tag in ["v1", "v2", "edge"] {
        pushed(&store, "oci/image", tag, 100.0);
    }
    let out = ok(prune(
        &store,
        &[
            "-d",
            "-v",
            "--repo",
            "oci/image",
            "--older-than",
            "1d",
            "--keep",
            "^v1$",
            "--keep",
            "dg",
        ],
    ));
    assert_eq!(listed(&out), ["oci/image:v2"]);
    assert!(
        out.contains("oci/image:edge kept: matches --keep dg"),
        "{out}"
    );
    // A tag kept by --keep does not take a --keep-last slot: v1 is the
    // newest, yet v2 is kept as the newest of the others.
    pushed(&store, "oci/image", "v1", 1.0);
    pushed(&store, "oci/image", "v2", 50.0);
    let out = ok(prune(
        &store,
        &[
            "-d",
            "-v",
            "--repo",
            "oci/image",
            "--keep-last",
            "1",
            "--keep",
            "^v1$",
        ],
    ));
    assert_eq!(listed(&out), ["oci/image:edge"]);
    assert!(
        out.contains("oci/image:v2 kept: one of the 1 most recently pushed"),
        "{out}"
    );
}

#[test]
fn keep_last_orders_by_push_time_not_by_name() {
    let store = aged(100.0);
    // Newest first: v1, v2, edge; by name: edge < v1 < v2.
    pushed(&store, "oci/image", "v1", 1.0);
    pushed(&store, "oci/image", "v2", 2.0);
    pushed(&store, "oci/image", "edge", 3.0);
    let out = ok(prune(
        &store,
        &["-d", "-v", "--repo", "oci/image", "--keep-last", "1"],
    ));
    assert_eq!(listed(&out), ["oci/image:edge", "oci/image:v2"]);
    assert!(
        out.contains("oci/image:v1 kept: one of the 1 most recently pushed"),
        "{out}"
    );
    let out = ok(prune(
        &store,
        &["-d", "--repo", "oci/image", "--keep-last", "2"],
    ));
    assert_eq!(listed(&out), ["oci/image:edge"]);
    // Re-pushing edge makes it the newest.
    pushed(&store, "oci/image", "edge", 0.0);
    let out = ok(prune(&store, &["--repo", "oci/image", "--keep-last", "1"]));
    assert_eq!(listed(&out), ["oci/image:v1", "oci/image:v2"]);
    assert_eq!(
        all_tags(&store)
            .into_iter()
            .filter(|t| t.starts_with("oci/"))
            .collect::<Vec<_>>(),
        ["oci/image:edge"]
    );
}

#[test]
fn keep_last_is_a_floor_under_older_than() {
    let store = aged(100.0);
    pushed(&store, "oci/image", "edge", 5.0);
    let args = ["-d", "--repo", "oci/image", "--older-than", "30d"];
    // All three are old but the 2 newest (edge, then v1: same push time as
    // v2, first by name) stay.
    let out = ok(prune(&store, &[&args[..], &["--keep-last", "2"]].concat()));
    assert_eq!(listed(&out), ["oci/image:v2"]);
    // A tag younger than --older-than stays even beyond the last N.
    let out = ok(prune(&store, &[&args[..], &["--keep-last", "1"]].concat()));
    assert_eq!(listed(&out), ["oci/image:v1", "oci/image:v2"]);
    let out = ok(prune(
        &store,
        &[
            "-d",
            "-v",
            "--repo",
            "oci/image",
            "--older-than",
            "1d",
            "--keep-last",
            "1",
        ],
    ));
    assert!(
        out.contains("oci/image:edge kept: one of the 1 most recently pushed"),
        "{out}"
    );
    pushed(&store, "oci/image", "edge", 0.5);
    pushed(&store, "oci/image", "v1", 0.2);
    let out = ok(prune(
        &store,
        &[
            "-d",
            "-v",
            "--repo",
            "oci/image",
            "--older-than",
            "1d",
            "--keep-last",
            "1",
        ],
    ));
    assert_eq!(listed(&out), ["oci/image:v2"]);
    assert!(
        out.contains("oci/image:edge kept: pushed less than 1d0h ago"),
        "{out}"
    );
}

#[test]
fn match_limits_the_tags_considered() {
    let store = aged(100.0);
    let out = ok(prune(
        &store,
        &["-d", "-v", "--match", "^v", "--keep-last", "1"],
    ));
    // oci/image v1, v2 (same age: v1 first by name); team/app/api v1 only.
    assert_eq!(listed(&out), ["oci/image:v2"]);
    assert!(
        out.contains("oci/image:edge kept: not matched by --match"),
        "{out}"
    );
}

#[test]
fn nested_repositories_and_globs() {
    let store = aged(100.0);
    let repos = |args: &[&str]| -> BTreeSet<String> {
        let out = ok(prune(
            &store,
            &[&["-d", "--older-than", "1d"][..], args].concat(),
        ));
        listed(&out)
            .into_iter()
            .map(|t| t.split_once(':').unwrap().0.to_string())
            .collect()
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(repos(&["--repo", "team/*"]), set(&["team/app"]));
    assert_eq!(
        repos(&["--repo", "team/**"]),
        set(&["team/app", "team/app/api"])
    );
    assert_eq!(repos(&["--repo", "team/app/*"]), set(&["team/app/api"]));
    assert_eq!(repos(&["--repo", "**/api"]), set(&["team/app/api"]));
    assert_eq!(repos(&["--repo", "team/app"]), set(&["team/app"]));
    assert_eq!(
        repos(&["--repo", "multi/*", "--repo", "legacy/schema?"]),
        set(&["multi/tool-docker", "multi/tool-oci", "legacy/schema1"])
    );
    assert!(repos(&["--repo", "team"]).is_empty());
    // Deleting team/app's tag leaves the nested team/app/api alone.
    ok(prune(&store, &["--older-than", "1d", "--repo", "team/app"]));
    assert_eq!(store.tag_digest("team/app", "latest"), None);
    assert!(store.tag_digest("team/app/api", "v1").is_some());
    assert!(store.tag_digest("team/app/api", "stable").is_some());
}

#[test]
fn policy_file_rules_per_repository() {
    let store = aged(100.0);
    pushed(&store, "oci/image", "edge", 1.0);
    let policy = store.dir.path().join("policy.yml");
    fs::write(
        &policy,
        "rules:\n\
         \x20 - repo: 'team/**'\n\
         \x20   older_than: 1000d\n\
         \x20 - repo: 'oci/*'\n\
         \x20   keep_last: 1\n\
         \x20   keep: ['^v1$']\n\
         \x20 - repo: 'library/base'\n\
         \x20   older_than: 30d\n\
         \x20   match: '^1'\n\
         \x20 - repo: 'multi/**'\n\
         \x20   older_than: 1d\n",
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    let out = ok(prune(&store, &["-d", "--policy", p]));
    assert_eq!(
        listed(&out),
        [
            "library/base:1",
            "library/base:1.0",
            "multi/tool-docker:1.0",
            "multi/tool-oci:2.0",
            "oci/image:v2"
        ]
    );
    // --repo narrows the policy's repositories further.
    let out = ok(prune(&store, &["--policy", p, "--repo", "oci/**"]));
    assert_eq!(listed(&out), ["oci/image:v2"]);

    // A policy error names the file and the rule; nothing is deleted.
    let before = store.files();
    for (yaml, want) in [
        (
            "rules:\n  - repo: 'a'\n    keep: [x]\n",
            "rule 1 (repo \"a\"): no selecting rule",
        ),
        (
            "rules:\n  - repo: 'a'\n    olderthan: 1d\n",
            "unknown field `olderthan`",
        ),
        (
            "rules:\n  - repo: 'a'\n    older_than: soon\n",
            "rule 1 (repo \"a\"): older_than \"soon\": not a duration (a number and a unit, such as 90m, 36h, 30d or 2w)",
        ),
        (
            "rules:\n  - repo: 'a'\n    older_than: 0s\n",
            "rule 1 (repo \"a\"): older_than must be longer than 0 (prune-tags never deletes every tag)",
        ),
        ("", "failed to prune tags: policy error: "),
    ] {
        fs::write(&policy, yaml).unwrap();
        let out = prune(&store, &["--policy", p]);
        assert_eq!(out.status.code(), Some(1), "{yaml}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with("failed to prune tags: policy error: ") && err.contains(want),
            "{err}"
        );
        assert!(err.ends_with(&format!("(in {p})\n")), "{err}");
    }
    let out = prune(&store, &["--policy", "/nonexistent/policy.yml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "failed to prune tags: policy error: no such file or directory (in /nonexistent/policy.yml)\n"
    );
    assert_eq!(store.files(), before);
}

#[test]
fn reports_manifests_left_untagged() {
    let store = aged(100.0);
    pushed(&store, "oci/image", "edge", 1.0);
    let out = ok(prune(
        &store,
        &["-v", "--repo", "oci/image", "--older-than", "30d"],
    ));
    assert_eq!(listed(&out), ["oci/image:v1", "oci/image:v2"]);
    // v2 and edge share a manifest: only v1's loses its last tag.
    let v1 = "sha256:6c4644dc7170924a75d926fdacab84ec7e7bc49b4f0e06edfdaebcf75da7a7ec";
    assert!(
        out.contains(&format!("manifest left untagged: oci/image@{v1}\n")),
        "{out}"
    );
    assert!(
        out.ends_with("2 tags deleted in 1 repository, 1 kept; 1 manifest left untagged: `registry-gc garbage-collect -m` reclaims it\n"),
        "{out}"
    );
    let dry = ok(prune(&store, &["-d", "--older-than", "30d"]));
    assert!(
        dry.ends_with(" would be left untagged: `registry-gc garbage-collect -m` reclaims them\n"),
        "{dry}"
    );
}

#[test]
fn errors_take_the_lock_rules_and_exit_codes_of_garbage_collect() {
    let store = aged(100.0);
    // A bad tag link fails closed, naming the file, before deleting anything.
    let link = store
        .repo("oci/image")
        .join("_manifests/tags/v2/current/link");
    fs::write(&link, "sha256:abc\n").unwrap();
    let before = store.files();
    let out = prune(&store, &["--older-than", "1d"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("failed to prune tags: failed to retrieve tags: invalid checksum digest"),
        "{err}"
    );
    assert!(
        err.ends_with(&format!(
            "(in {})\n",
            link.canonicalize().unwrap().display()
        )),
        "{err}"
    );
    assert_eq!(store.files(), before);
    // A symlinked tag directory is refused.
    fs::remove_dir_all(store.repo("oci/image/_manifests/tags/v2")).unwrap();
    std::os::unix::fs::symlink(
        store.repo("oci/image/_manifests/tags/v1"),
        store.repo("oci/image/_manifests/tags/v2"),
    )
    .unwrap();
    let out = prune(&store, &["-d", "--older-than", "1d"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("symbolic link inside the store"));
    // A configuration error is reported as garbage-collect reports it.
    store.write_config("version: 0.2\n");
    let out = prune(&store, &["--older-than", "1d"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("configuration error: "));
}

fn disk_usage(root: &Path) -> u64 {
    let mut total = 0;
    for e in fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            disk_usage(&e.path())
        } else {
            m.len()
        };
    }
    total
}

/// The issue's workflow on a recorded store: prune-tags, then garbage-collect
/// -m; every kept tag still pulls with skopeo and the store is smaller.
#[test]
fn end_to_end_prune_then_collect_then_every_kept_tag_pulls() {
    let store = aged(60.0);
    // Per repository one tag is the newest (kept by --keep-last 1); `latest`
    // is always kept.
    for (repo, tag) in [
        ("library/base", "1"),
        ("team/app/api", "stable"),
        ("oci/image", "edge"),
        ("deleted/blob", "ok"),
        ("shared/copy", "latest"),
    ] {
        pushed(&store, repo, tag, 45.0);
    }
    let before_bytes = disk_usage(&store.root);
    let before_tags = all_tags(&store);
    let out = ok(prune(
        &store,
        &[
            "--older-than",
            "30d",
            "--keep-last",
            "1",
            "--keep",
            "^latest$",
        ],
    ));
    let deleted = listed(&out);
    assert_eq!(
        deleted,
        [
            "deleted/blob:broken",
            "library/base:1.0",
            "oci/image:v1",
            "oci/image:v2",
            "team/app/api:v1",
        ]
    );
    // oci/image:v1's manifest and deleted/blob:broken's; team/app/api:v1's
    // is still tagged `stable`, oci/image:v2's `edge`.
    assert!(out.contains("2 manifests left untagged"), "{out}");
    let kept = all_tags(&store);
    assert_eq!(
        kept,
        without(
            &before_tags,
            &deleted.iter().map(String::as_str).collect::<Vec<_>>()
        )
    );
    let after_prune = disk_usage(&store.root);
    ok(rgc(&store, "garbage-collect", &["-m"]));
    let after_gc = disk_usage(&store.root);
    // The same collection without the prune, for comparison.
    let control = aged(60.0);
    ok(rgc(&control, "garbage-collect", &["-m"]));
    let control_gc = disk_usage(&control.root);
    eprintln!(
        "disk usage: {before_bytes} bytes before, {after_prune} after prune-tags, \
         {after_gc} after garbage-collect -m ({control_gc} with garbage-collect -m alone)"
    );
    assert!(after_prune <= before_bytes);
    assert!(after_gc < control_gc, "{after_gc} < {control_gc}");
    // oci/image:v1's manifest and its unique layer are gone.
    let v1 = "sha256:6c4644dc7170924a75d926fdacab84ec7e7bc49b4f0e06edfdaebcf75da7a7ec";
    assert!(!store.blob_data(v1).exists());

    let pullable: BTreeSet<String> = fixture_tags("demo").into_iter().collect();
    let served = store.serve();
    for tag in &kept {
        if pullable.contains(tag) {
            served
                .pull(tag)
                .unwrap_or_else(|e| panic!("{tag} no longer pulls: {e}"));
        }
    }
    assert_eq!(kept.iter().filter(|t| pullable.contains(*t)).count(), 12);
    for tag in &deleted {
        assert!(served.pull(tag).is_err(), "{tag} was deleted");
    }
}

#[test]
fn keep_last_breaks_ties_by_name_ascending() {
    // Equal push times (as `docker push` of several tags in one second
    // gives): the name that sorts first ranks first, as documented.
    let store = aged(100.0);
    for tag in ["v2", "edge", "v1"] {
        pushed(&store, "oci/image", tag, 5.0);
    }
    let out = ok(prune(
        &store,
        &["-d", "-v", "--repo", "oci/image", "--keep-last", "1"],
    ));
    assert_eq!(listed(&out), ["oci/image:v1", "oci/image:v2"]);
    assert!(
        out.contains("oci/image:edge kept: one of the 1 most recently pushed"),
        "{out}"
    );
}
