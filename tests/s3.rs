//! registry-gc on S3 keeps the guarantees it has on disk (issue 11, items 3
//! and 4), against moto and SeaweedFS on loopback:
//!
//! - `bad_inputs_fail_closed_naming_the_key`: the bad-input table (SeaweedFS,
//!   which checks credentials): exit 1, a message naming `s3://bucket/...`,
//!   nothing deleted;
//! - `faults_delete_nothing_wrong_and_a_rerun_finishes`: 503 SlowDown and dropped
//!   connections from [`S3Proxy`] during real `-m` runs of the recorded demo;
//! - `run_lock_refuses_a_second_run_and_takes_over_an_expired_one`: the lock object;
//! - `requests_stay_within_the_issue_budget`: requests by operation and key shape
//!   from moto's log, against the issue's bound and upstream's count;
//! - `subcommands_and_grace_period_on_s3`: prune-tags, purge-uploads, inventory
//!   and `--grace-period` (LastModified);
//! - `a_blob_pushed_again_between_plan_and_sweep_keeps_its_link`: the sweep's
//!   last look (a HEAD) at a dangling link's blob;
//! - `skipverify_accepts_a_self_signed_endpoint_and_only_then`: moto over TLS;
//! - `blobs_without_repositories_are_left_alone`,
//!   `a_manifest_at_the_size_limit_is_read_and_one_byte_over_is_refused`: the
//!   empty store and the manifest limit, as on disk.
//!
//! Deletions are compared with registry-gc's on the filesystem copy of the same
//! store, which `tests/differential.rs` compares with upstream's and
//! `s3_oracle.rs` shows equal on S3 and on disk.

mod support;

#[path = "support/s3_more.rs"]
mod s3_more;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use s3_more::*;
use support::s3::*;
use support::*;

/// A config for `bucket` at `endpoint` (extra `storage.s3` keys in `extra`),
/// written into `dir` under `name`.
fn cfg(dir: &Path, name: &str, endpoint: &str, bucket: &str, extra: &str) -> PathBuf {
    let p = dir.join(format!("{name}.yml"));
    config_yml_s3(&p, endpoint, bucket, extra);
    p
}

/// `fixtures/demo/store` uploaded key for key into bucket `demo` of `s3` (the
/// keys the registry wrote when the fixture was recorded); returns the keys.
fn upload_demo(s3: &S3Server) -> BTreeMap<String, KeyInfo> {
    s3.create_bucket("demo");
    s3.upload_dir("demo", KEY_PREFIX, &fixture_dir("demo").join("store"));
    s3.keys("demo", "")
}

/// The keys registry-gc with `flags` deletes from the filesystem copy of the
/// demo store (`registry/` + file).
fn disk_deletions(flags: &[&str]) -> BTreeSet<String> {
    let disk = fixture_copy("demo");
    let before = disk.files();
    let out = run_ours(&disk, flags);
    assert!(out.status.success(), "on disk: {out:?}");
    as_keys(before.difference(&disk.files()).cloned())
}

/// Every tag of `tags` pulls from a registry serving `bucket`.
fn all_pull(s3: &S3Server, bucket: &str, tags: &[String], what: &str) {
    let reg = Served::start_s3(&s3.endpoint(), bucket);
    for (t, r) in reg.pull_all(tags) {
        assert!(r.is_ok(), "{what}: {t} no longer pulls: {r:?}");
    }
}

/// A failed run: exit 1, stderr's last error line starts with `failed to
/// garbage collect: ` and contains every one of `parts`.
fn assert_fails(what: &str, (out, err, code): &(String, String, i32), parts: &[&str]) {
    assert_eq!(*code, 1, "{what}: exit code\n{out}\n{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("failed to garbage collect: "))
        .unwrap_or_else(|| panic!("{what}: no error line in:\n{err}"));
    for p in parts {
        assert!(line.contains(p), "{what}: no `{p}` in\n{line}");
    }
}

/// The bad-input table on SeaweedFS, each case in a real `-m` run: exit 1, an
/// error naming the key (or the config key) at fault, nothing deleted, no lock
/// left. Upstream's answers (`s3_oracle.rs::oracle_bad_inputs_on_seaweedfs`) are
/// in the comments; the messages differ in wording, the outcome is the same,
/// except `v4auth: false`, which upstream accepts (SigV2) and registry-gc refuses.
#[test]
fn bad_inputs_fail_closed_naming_the_key() {
    let s3 = S3Server::seaweed();
    s3.create_bucket("registry");
    s3.upload_dir("registry", KEY_PREFIX, &fixture_dir("demo").join("store"));
    let keys = s3.keys("registry", "");
    let dir = tempfile::tempdir().unwrap();
    let ep = s3.endpoint();
    let v2 = |bucket: &str, rest: &str| format!("(in s3://{bucket}/{V2_PREFIX}{rest}");

    // upstream: failed to mark: s3aws: NoSuchBucket: The specified bucket does not exist
    let r = run_ours_s3(&cfg(dir.path(), "nb", &ep, "nosuchbucket", ""), &["-m"]);
    assert_fails(
        "no such bucket",
        &r,
        &[
            "the bucket nosuchbucket does not exist",
            &v2("nosuchbucket", "repositories/)"),
        ],
    );
    // upstream: failed to mark: s3aws: SignatureDoesNotMatch
    let r = run_ours_s3(
        &cfg(dir.path(), "wk", &ep, "registry", "secretkey: wrong"),
        &["-m"],
    );
    assert_fails(
        "wrong secret key",
        &r,
        &["SignatureDoesNotMatch", &v2("registry", "repositories/)")],
    );
    // upstream: failed to mark: s3aws: RequestError: send request failed (after retries)
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t0 = Instant::now();
    let unreachable = format!("http://127.0.0.1:{closed}");
    let r = run_ours_s3(
        &cfg(dir.path(), "un", &unreachable, "registry", ""),
        &["-m"],
    );
    assert_fails(
        "unreachable endpoint",
        &r,
        &[
            &format!("cannot connect to the endpoint {unreachable}"),
            &v2("registry", "repositories/)"),
        ],
    );
    eprintln!("unreachable endpoint: failed after {:?}", t0.elapsed());
    // upstream: accepted, signs with SigV2 (a deliberate difference)
    let r = run_ours_s3(
        &cfg(dir.path(), "v2", &ep, "registry", "v4auth: false"),
        &["-m"],
    );
    assert_eq!(r.2, 1, "v4auth: false\n{}\n{}", r.0, r.1);
    assert!(
        r.1.contains(
            "v4auth: false asks for AWS Signature Version 2, which registry-gc does not support"
        ),
        "{}",
        r.1
    );
    assert_eq!(
        s3.keys("registry", ""),
        keys,
        "nothing deleted, no lock left"
    );

    // One broken key per copy of the bucket.
    let tag_link =
        format!("{V2_PREFIX}repositories/library/base/_manifests/tags/latest/current/link");
    let digest = String::from_utf8(s3.get("registry", &tag_link)).unwrap();
    let hex = digest
        .strip_prefix("sha256:")
        .expect("a sha256 digest")
        .to_string();
    let other = "sha256:fa41f8477b277b2c9c9ebb21df1832a24719598403d71741d4c5fadcb9c684f8";
    let revision = format!("repositories/library/base/_manifests/revisions/sha256/{hex}/link");
    let manifest = format!("blobs/sha256/{}/{hex}/data", &hex[..2]);
    // (name, key below v2/, its bytes, the message, the key or prefix it names)
    let cases: [(&str, String, &[u8], &str, &str); 6] = [
        // upstream: error enumerating blobs: s3aws: unsupported digest algorithm
        (
            "badkey",
            "blobs/sha256/zz/notadigest/data".to_string(),
            b"junk",
            "error enumerating blobs: blob directory outside a two-character prefix directory",
            "",
        ),
        // (same as on disk: a key naming a digest directory that is not one)
        (
            "badhex",
            "blobs/sha256/ab/abnotadigest/data".to_string(),
            b"junk",
            "error enumerating blobs: invalid checksum digest length",
            "blobs/sha256/ab/abnotadigest",
        ),
        // upstream: failed to retrieve manifest for digest <d>: invalid character
        (
            "badmanifest",
            manifest.clone(),
            b"{not json",
            &format!("failed to mark: failed to retrieve manifest for digest {digest}: "),
            "",
        ),
        // upstream: no error, it marks the digest the link names (on the demo on
        // moto: exit 0, the 3 orphaned blobs deleted; checked by hand); a deliberate
        // difference, as on disk
        (
            "otherdigest",
            revision.clone(),
            other.as_bytes(),
            &format!("failed to mark: link names {other}, another digest than its path"),
            "",
        ),
        // upstream: invalid checksum digest length
        (
            "badlink",
            revision.clone(),
            b"sha256:nothex",
            "failed to mark: invalid checksum digest length",
            "",
        ),
        // upstream: invalid checksum digest format
        (
            "badrevision",
            "repositories/library/base/_manifests/revisions/sha256/nothex/link".to_string(),
            b"x",
            "failed to mark: invalid checksum digest format",
            "",
        ),
    ];
    for (name, rest, bytes, message, named) in cases {
        s3.copy_bucket("registry", name);
        s3.put(name, &format!("{V2_PREFIX}{rest}"), bytes);
        let before = s3.keys(name, "");
        let r = run_ours_s3(&cfg(dir.path(), name, &ep, name, ""), &["-m"]);
        let named = if named.is_empty() { &rest } else { named };
        assert_fails(name, &r, &[message, &format!("{})", v2(name, named))]);
        assert_eq!(
            s3.keys(name, ""),
            before,
            "{name}: nothing deleted, no lock left"
        );
    }
}

/// Faults injected by [`S3Proxy`] between registry-gc and moto during real `-m`
/// runs of the demo recorded through the real registry: SlowDown and dropped
/// connections on every kind of request, SlowDown on every DeleteObjects, and
/// DeleteObjects that take effect but whose answer is dropped. Each run deletes
/// nothing outside the clean run's deletions and either succeeds or exits 1
/// naming the keys it could not delete; a rerun without faults (after taking over
/// the lock a failed release left) ends with exactly the clean run's deletions,
/// and every tag pulls.
#[test]
fn faults_delete_nothing_wrong_and_a_rerun_finishes() {
    let s3 = S3Server::moto();
    let demo = record_demo_on_s3(&s3, "demo");
    let recorded = s3.keys("demo", "");
    let expected = disk_deletions(&["-m"]);
    let dir = tempfile::tempdir().unwrap();
    let deletes: &[&str] = &["--fail-methods", "POST", "--fail-match", "[?&]delete"];
    let scenarios: [(&str, Vec<&str>, bool); 3] = [
        (
            "mixed",
            vec!["--fail-rate", "0.2", "--drop-rate", "0.1", "--seed", "3"],
            false,
        ),
        (
            "deletes-fail",
            [&["--fail-rate", "1"][..], deletes].concat(),
            true,
        ),
        (
            "deletes-unseen",
            [&["--drop-rate", "1", "--drop-after-forward"][..], deletes].concat(),
            true,
        ),
    ];
    for (name, args, must_fail) in scenarios {
        let bucket = format!("fault-{name}");
        s3.copy_bucket("demo", &bucket);
        let proxy = S3Proxy::start(s3.port, &args);
        let t0 = Instant::now();
        let (out, err, code) = run_ours_s3(
            &cfg(dir.path(), &bucket, &proxy.endpoint(), &bucket, ""),
            &["-m"],
        );
        let reqs = proxy.requests();
        let faults = reqs.iter().filter(|r| r.outcome != "ok").count();
        eprintln!(
            "{name}: exit {code} in {:?}, {} requests, {faults} faulted",
            t0.elapsed(),
            reqs.len()
        );
        assert!(faults > 0, "{name}: the proxy injected nothing");
        let deleted = deleted_keys(&recorded, &s3.keys(&bucket, ""));
        let wrong: Vec<&String> = deleted.difference(&expected).collect();
        assert!(
            wrong.is_empty(),
            "{name}: deleted outside the plan: {wrong:?}"
        );
        if must_fail || code != 0 {
            assert_fails(
                name,
                &(out, err.clone(), code),
                &[
                    "failed to delete",
                    &format!("(in s3://{bucket}/{V2_PREFIX}"),
                ],
            );
            // every key of a failed batch is named, one error line each
            let named = err
                .lines()
                .filter(|l| l.contains("level=error") && l.contains("failed to delete"))
                .count();
            assert!(named > 1, "{name}: per-key delete errors:\n{err}");
        } else {
            assert_eq!(
                deleted, expected,
                "{name}: a successful run deletes the plan"
            );
        }
        // a lock whose release failed stays until it expires, and refuses a rerun
        let config = cfg(
            dir.path(),
            &format!("{bucket}-direct"),
            &s3.endpoint(),
            &bucket,
            "",
        );
        if s3.keys(&bucket, LOCK_KEY).contains_key(LOCK_KEY) {
            let (o, e, c) = run_ours_s3(&config, &["-m"]);
            assert_eq!(c, 1, "{name}: rerun under a live lock\n{o}\n{e}");
            assert!(
                e.contains("another registry-gc holds the lock"),
                "{name}: {e}"
            );
            s3.put(&bucket, LOCK_KEY, &lock_body("gone", 1, -1));
        }
        let (o, e, c) = run_ours_s3(&config, &["-m"]);
        assert_eq!(c, 0, "{name}: rerun without faults\n{o}\n{e}");
        assert_eq!(
            deleted_keys(&recorded, &s3.keys(&bucket, "")),
            expected,
            "{name}: after the rerun"
        );
        assert!(
            !s3.keys(&bucket, LOCK_KEY).contains_key(LOCK_KEY),
            "{name}: lock left"
        );
        all_pull(&s3, &bucket, &demo.tags, name);
    }
}

/// The run lock: a lock another host holds (unexpired) makes a real run fail at
/// once naming it, and a dry run ignore it; an expired one is taken over; a
/// second run while a real run (slowed by a delay proxy) holds it fails naming
/// this host and the first run's pid; after each successful run the lock object
/// is gone.
#[test]
fn run_lock_refuses_a_second_run_and_takes_over_an_expired_one() {
    let s3 = S3Server::moto();
    let keys = upload_demo(&s3);
    let expected = disk_deletions(&["-m"]);
    let dir = tempfile::tempdir().unwrap();

    s3.copy_bucket("demo", "held");
    let held = lock_body("other-host", 4242, 3600);
    s3.put("held", LOCK_KEY, &held);
    let config = cfg(dir.path(), "held", &s3.endpoint(), "held", "");
    let t0 = Instant::now();
    let r = run_ours_s3(&config, &["-m"]);
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "at once: {:?}",
        t0.elapsed()
    );
    assert_fails(
        "held lock",
        &r,
        &[&format!(
            "another registry-gc holds the lock s3://held/{LOCK_KEY}: other-host pid 4242"
        )],
    );
    let (out, err, code) = run_ours_s3(&config, &["-d", "-m"]);
    assert_eq!(code, 0, "a dry run takes no lock\n{out}\n{err}");
    assert_eq!(
        s3.get("held", LOCK_KEY),
        held,
        "the holder's lock is untouched"
    );
    assert_eq!(without_lock(s3.keys("held", "")), keys, "nothing deleted");

    // expired: taken over, then released
    s3.put("held", LOCK_KEY, &lock_body("other-host", 4242, -60));
    let (out, err, code) = run_ours_s3(&config, &["-m"]);
    assert_eq!(code, 0, "an expired lock is taken over\n{out}\n{err}");
    let after = s3.keys("held", "");
    assert!(!after.contains_key(LOCK_KEY), "released after the run");
    assert_eq!(deleted_keys(&keys, &after), expected);

    // a live run holds it
    s3.copy_bucket("demo", "live");
    let proxy = S3Proxy::start(s3.port, &["--delay-ms", "400"]);
    let slow = cfg(dir.path(), "live-slow", &proxy.endpoint(), "live", "");
    let mut first = ours_s3_command(&slow, &["-m"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the first run");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s3.keys("live", LOCK_KEY).contains_key(LOCK_KEY) {
        assert!(
            Instant::now() < deadline,
            "the first run never took the lock"
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended before"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let direct = cfg(dir.path(), "live", &s3.endpoint(), "live", "");
    let t0 = Instant::now();
    let r = run_ours_s3(&direct, &["-m"]);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "at once: {:?}",
        t0.elapsed()
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_fails(
        "second run",
        &r,
        &[&format!(
            "another registry-gc holds the lock s3://live/{LOCK_KEY}: {} pid {}",
            host.trim(),
            first.id()
        )],
    );
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "the first run: {out:?}");
    let after = s3.keys("live", "");
    assert!(!after.contains_key(LOCK_KEY), "released after the run");
    assert_eq!(deleted_keys(&keys, &after), expected);
}

/// Counts of one run from moto's log.
#[derive(Debug, Default)]
struct Counted {
    total: usize,
    lists: usize,
    gets: usize,
    delete_objects: usize,
    /// HEADs: only the re-check and the sweep ask whether a key exists now.
    heads: usize,
    /// GETs of `_manifests/revisions/.../link` (links are confirmed by ETag).
    revision_link_gets: Vec<String>,
    /// GETs of `_manifests/tags/<tag>/current/link`.
    tag_link_gets: usize,
    /// GETs of `blobs/.../data` (manifests).
    blob_gets: usize,
}

fn count(reqs: &[(String, String, String)]) -> Counted {
    let mut c = Counted {
        total: reqs.len(),
        ..Counted::default()
    };
    for (method, key, query) in reqs {
        match method.as_str() {
            "GET" if key.is_empty() && query.contains("list-type=2") => c.lists += 1,
            "GET" => {
                c.gets += 1;
                if key.contains("/_manifests/revisions/") && key.ends_with("/link") {
                    c.revision_link_gets.push(key.clone());
                }
                if key.contains("/_manifests/tags/") && key.ends_with("/current/link") {
                    c.tag_link_gets += 1;
                }
                if key.contains("/blobs/") && key.ends_with("/data") {
                    c.blob_gets += 1;
                }
            }
            "HEAD" => c.heads += 1,
            "POST" if query.split('&').any(|q| q == "delete" || q == "delete=") => {
                c.delete_objects += 1
            }
            _ => {}
        }
    }
    c
}

/// Requests on the demo store on moto, counted by moto: a dry run makes at most
/// keys/1000 + revisions + a small constant (no GET of a revision link), `-m`
/// at most one GET per tag more, a real run adds deletions/1000 DeleteObjects
/// (+ the lock); `--report` gives the same counts by operation; in every mode
/// at least 10x fewer requests than upstream on a copy of the same bucket; and a
/// second run, with the mark cache, no GET at all: keys/1000 + a small constant.
#[test]
fn requests_stay_within_the_issue_budget() {
    let s3 = S3Server::moto();
    let keys = upload_demo(&s3);
    let n_keys = keys.len();
    let revisions = keys
        .keys()
        .filter(|k| k.contains("/_manifests/revisions/") && k.ends_with("/link"))
        .count();
    let tags = keys
        .keys()
        .filter(|k| k.contains("/_manifests/tags/") && k.ends_with("/current/link"))
        .count();
    const SMALL: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    for (mode, flags) in MODES {
        let ours = format!("ours-{mode}");
        s3.copy_bucket("demo", &ours);
        let report = dir.path().join(format!("{mode}.json"));
        let mut args = flags.to_vec();
        let report_arg = format!("--report={}", report.display());
        args.push(&report_arg);
        let n0 = s3.requests().len();
        let (out, err, code) =
            run_ours_s3(&cfg(dir.path(), &ours, &s3.endpoint(), &ours, ""), &args);
        assert_eq!(code, 0, "{mode}\n{out}\n{err}");
        let c = count(&bucket_requests(&s3, &ours, n0));
        let deletions = deleted_keys(&keys, &s3.keys(&ours, "")).len();

        let theirs = format!("up-{mode}");
        s3.copy_bucket("demo", &theirs);
        let n0 = s3.requests().len();
        let (o, e, code) = run_oracle_s3(
            &cfg(dir.path(), &theirs, &s3.endpoint(), &theirs, ""),
            flags,
        );
        assert_eq!(code, 0, "upstream {mode}\n{o}\n{e}");
        let up = bucket_requests(&s3, &theirs, n0).len();
        eprintln!(
            "{mode}: ours {} ({} list, {} get, {} DeleteObjects), upstream {up}; \
             {n_keys} keys, {revisions} revisions, {tags} tags, {deletions} deletions",
            c.total, c.lists, c.gets, c.delete_objects
        );

        assert!(
            c.revision_link_gets.is_empty(),
            "{mode}: {:?}",
            c.revision_link_gets
        );
        let m = flags.contains(&"-m");
        // each manifest and (with -m) each tag link read at most once, re-check included
        assert!(c.blob_gets <= revisions, "{mode}: {c:?}");
        assert!(c.tag_link_gets <= if m { tags } else { 0 }, "{mode}: {c:?}");
        let dry = flags.contains(&"-d");
        let mut budget = n_keys.div_ceil(1000) + revisions + SMALL;
        if m {
            budget += tags;
        }
        if !dry {
            budget += deletions.div_ceil(1000);
            // the sweep's batches: one per kind of target, each under 1,000 keys
            assert!(
                c.delete_objects <= 5,
                "{mode}: {} DeleteObjects",
                c.delete_objects
            );
        } else {
            assert_eq!(c.delete_objects, 0, "{mode}");
            assert_eq!(c.heads, 0, "{mode}: the listing answers every stat");
        }
        assert!(
            c.total <= budget,
            "{mode}: {} requests, budget {budget}: {c:?}",
            c.total
        );
        assert!(
            c.total * 10 <= up,
            "{mode}: ours {} vs upstream {up}",
            c.total
        );

        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        let r = &json["requests"];
        let sum: u64 = ["list", "get", "head", "put", "delete", "other"]
            .iter()
            .map(|k| {
                r[k].as_u64()
                    .unwrap_or_else(|| panic!("{mode}: requests.{k} in {r}"))
            })
            .sum();
        assert_eq!(r["list"].as_u64(), Some(c.lists as u64), "{mode}: {r}");
        // the report is written before the lock is released (one GET, one delete)
        let after_report = if dry { 0 } else { 2 };
        assert_eq!(sum as usize + after_report, c.total, "{mode}: {r}");

        // A second run, with the mark cache the first one saved: no manifest
        // and no unchanged tag is read again; only listings (and the lock).
        let n0 = s3.requests().len();
        let (out, err, code) =
            run_ours_s3(&cfg(dir.path(), &ours, &s3.endpoint(), &ours, ""), flags);
        assert_eq!(code, 0, "{mode} again\n{out}\n{err}");
        let again = count(&bucket_requests(&s3, &ours, n0));
        eprintln!("{mode} again: ours {} ({} list)", again.total, again.lists);
        assert_eq!(
            (again.blob_gets, again.tag_link_gets),
            (0, 0),
            "{mode} again: {again:?}"
        );
        assert!(
            again.total <= n_keys.div_ceil(1000) + SMALL,
            "{mode} again: {} requests: {again:?}",
            again.total
        );
        assert!(err.contains(", 0 read;"), "{mode} again: {err}");
    }
}

/// prune-tags, gc -m, purge-uploads, inventory and `--grace-period` on S3.
#[test]
fn subcommands_and_grace_period_on_s3() {
    let s3 = S3Server::moto();
    let keys = upload_demo(&s3);
    let dir = tempfile::tempdir().unwrap();
    let ep = s3.endpoint();
    let tags = fixture_tags("demo");

    // prune-tags --keep-last 1, then gc -m: the kept tags pull, the pruned do not
    s3.copy_bucket("demo", "prune");
    let config = cfg(dir.path(), "prune", &ep, "prune", "");
    let (out, err, code) = run_ours_sub("prune-tags", &config, &["--keep-last", "1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let pruned: BTreeSet<String> = out
        .lines()
        .filter_map(|l| {
            l.split_once(" deleted, pushed ")
                .map(|(t, _)| t.to_string())
        })
        .collect();
    assert!(!pruned.is_empty(), "{out}");
    for t in &pruned {
        let (repo, tag) = t.rsplit_once(':').unwrap();
        let link = format!("{V2_PREFIX}repositories/{repo}/_manifests/tags/{tag}/");
        assert!(s3.keys("prune", &link).is_empty(), "{t}: tag keys left");
    }
    let (out, err, code) = run_ours_s3(&config, &["-m"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let kept: Vec<String> = tags
        .iter()
        .filter(|t| !pruned.contains(*t))
        .cloned()
        .collect();
    assert!(
        summary_counts(&out).1 > 0,
        "something left untagged was deleted"
    );
    all_pull(&s3, "prune", &kept, "after prune-tags and gc -m");
    let reg = Served::start_s3(&ep, "prune");
    for t in &pruned {
        assert!(reg.pull(t).is_err(), "{t} was pruned");
    }
    drop(reg);

    // purge-uploads: an old upload goes, a young one stays; a dry run changes nothing
    s3.copy_bucket("demo", "uploads");
    let up = format!("{V2_PREFIX}repositories/team/app/_uploads/");
    let old = "11111111-1111-4111-8111-111111111111";
    let young = "22222222-2222-4222-8222-222222222222";
    s3.put("uploads", &format!("{up}{old}/data"), b"old");
    s3.put(
        "uploads",
        &format!("{up}{old}/startedat"),
        b"2020-01-01T00:00:00Z",
    );
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    s3.put("uploads", &format!("{up}{young}/data"), b"young");
    s3.put("uploads", &format!("{up}{young}/startedat"), now.as_bytes());
    let before = s3.keys("uploads", "");
    let config = cfg(dir.path(), "uploads", &ep, "uploads", "");
    let (out, err, code) = run_ours_sub("purge-uploads", &config, &["-d"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("team/app: upload {old} eligible for deletion")),
        "{out}"
    );
    assert!(!out.contains(young), "{out}");
    assert_eq!(s3.keys("uploads", ""), before, "a dry run changes nothing");
    let (out, err, code) = run_ours_sub("purge-uploads", &config, &["--older-than", "24h"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let gone: BTreeSet<String> = deleted_keys(&before, &s3.keys("uploads", ""));
    assert!(
        gone.iter().any(|k| k.starts_with(&format!("{up}{old}/"))),
        "{gone:?}"
    );
    assert!(
        gone.iter()
            .all(|k| k.starts_with(&up) && !k.contains(young)),
        "only old uploads: {gone:?}"
    );
    assert_eq!(
        s3.keys("uploads", &format!("{up}{young}/")).len(),
        2,
        "the young upload is kept"
    );

    // inventory: the same as on the filesystem copy of the same store
    let config = cfg(dir.path(), "demo", &ep, "demo", "");
    let disk = fixture_copy("demo");
    for format in ["table", "json", "csv"] {
        let (out, err, code) = run_ours_sub("inventory", &config, &["--format", format]);
        assert_eq!(code, 0, "{format}: {err}");
        let d = ours_sub_command("inventory", &disk.config, &["--format", format])
            .output()
            .unwrap();
        let d_out = String::from_utf8_lossy(&d.stdout).into_owned();
        let drop_root = |s: &str| -> String {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("\"root\":"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            drop_root(&out),
            drop_root(&d_out),
            "inventory --format {format}"
        );
    }
    assert_eq!(s3.keys("demo", ""), keys, "inventory reads only");

    // --grace-period from LastModified: everything was just written, nothing goes
    s3.copy_bucket("demo", "grace");
    let config = cfg(dir.path(), "grace", &ep, "grace", "");
    let (out, err, code) = run_ours_s3(&config, &["-m", "--grace-period", "1h"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        s3.keys("grace", ""),
        keys,
        "nothing deleted within the grace period"
    );
    let saved_blobs = disk_deletions(&["-m"])
        .iter()
        .filter(|k| k.starts_with(&format!("{V2_PREFIX}blobs/")) && k.ends_with("/data"))
        .count();
    assert!(
        out.contains(&format!("{saved_blobs} blobs and ")),
        "the line of what the grace period kept:\n{out}"
    );
    // two seconds later everything is older than 1s: the clean run's deletions
    std::thread::sleep(Duration::from_secs(2));
    let (out, err, code) = run_ours_s3(&config, &["-m", "--grace-period", "1s"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        deleted_keys(&keys, &s3.keys("grace", "")),
        disk_deletions(&["-m"])
    );
}

/// Listings too large for one sequential stream are split into at most 16
/// plain-prefix listings (`blobs/sha256/0`, groups of repository names): on a
/// generated store with over 1,000 repository keys and 1,001 extra orphan
/// blobs whose digests all start with `0000` (so the first page of `blobs/`
/// predicts far more than 16 pages), registry-gc on moto deletes exactly
/// what it deletes from the same store on disk, in a dry run and a real `-m`
/// run, and a second dry run (mark cache warm) lists only.
#[test]
fn split_listings_find_every_key() {
    let disk = synth_store(&["--repos", "5", "--manifests", "40", "--seed", "7"]);
    for i in 0..1001u32 {
        let hex = format!("0000{i:060}");
        let dir = disk
            .root
            .join(format!("docker/registry/v2/blobs/sha256/00/{hex}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("data"), format!("orphan {i}")).unwrap();
    }
    let s3 = S3Server::moto();
    s3.create_bucket("big");
    let n_keys = s3.upload_dir("big", KEY_PREFIX, &disk.root);
    let repo_keys = s3
        .keys("big", "")
        .keys()
        .filter(|k| k.contains("/repositories/"))
        .count();
    assert!(
        repo_keys > 1000,
        "{repo_keys} repository keys: one page would do"
    );
    let dir = tempfile::tempdir().unwrap();
    for (mode, flags) in [("dry", &["-d"][..]), ("real-m", &["-m"][..])] {
        let bucket = format!("big-{mode}");
        s3.copy_bucket("big", &bucket);
        let before = s3.keys(&bucket, "");
        let n0 = s3.requests().len();
        let config = cfg(dir.path(), &bucket, &s3.endpoint(), &bucket, "");
        let (out, err, code) = run_ours_s3(&config, flags);
        assert_eq!(code, 0, "{mode}\n{err}");
        let lists = count(&bucket_requests(&s3, &bucket, n0)).lists;
        // blobs: 2 directory listings, 16 groups (+ the page 00 spills into);
        // repositories: 1 directory listing and its groups
        assert!(
            lists <= n_keys / 1000 + 2 * 16 + 6,
            "{mode}: {lists} listings"
        );
        let copy = store_copy(&disk);
        let files_before = copy.files();
        let d = run_ours(&copy, flags);
        assert!(d.status.success(), "{mode} on disk: {d:?}");
        assert_eq!(
            summary_counts(&out),
            summary_counts(&String::from_utf8_lossy(&d.stdout)),
            "{mode}"
        );
        let on_disk = as_keys(files_before.difference(&copy.files()).cloned());
        assert_eq!(
            deleted_keys(&before, &s3.keys(&bucket, "")),
            on_disk,
            "{mode}"
        );
        if mode == "dry" {
            assert!(summary_counts(&out).1 >= 1001, "the orphans: {out}");
            let n0 = s3.requests().len();
            let (_, err, code) = run_ours_s3(&config, flags);
            assert_eq!(code, 0, "{err}");
            let again = count(&bucket_requests(&s3, &bucket, n0));
            assert_eq!((again.gets, again.total), (0, again.lists), "{again:?}");
        }
    }
}

/// The lowercase hex SHA-256 of `content`.
fn sha256_hex(content: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content))
}

/// The key of a sha256 blob's `data` (by its hex digest) under [`V2_PREFIX`].
fn blob_data_key(hex: &str) -> String {
    format!("{V2_PREFIX}blobs/sha256/{}/{hex}/data", &hex[..2])
}

/// The store `config` names, opened through the library as a run opens it,
/// and its plan without `-m`: for tests that act between plan and sweep.
fn open_and_plan(config: &Path) -> (registry_gc::layout::Layout, registry_gc::plan::Plan) {
    let loaded = registry_gc::config::load(Some(config), &[]).expect("config");
    let layout = registry_gc::store::open(&loaded.config.storage, 8).expect("open");
    let plan =
        registry_gc::plan::plan(&layout, registry_gc::plan::Options::default()).expect("plan");
    (layout, plan)
}

/// Plan, then a blob pushed again whose `_layers` link was dangling when
/// planned, then apply (issue 14): the link stays, because the sweep asks the
/// bucket whether the blob exists now (a HEAD of its key), while a link whose
/// blob is still missing goes. The filesystem's twin is in `guard_tests`.
#[test]
fn a_blob_pushed_again_between_plan_and_sweep_keeps_its_link() {
    let s3 = S3Server::moto();
    upload_demo(&s3);
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(dir.path(), "race", &s3.endpoint(), "demo", "");
    let repo = "library/base";
    let again = sha256_hex(b"pushed again");
    let missing = sha256_hex(b"never pushed");
    let link_key = |hex: &str| format!("{V2_PREFIX}repositories/{repo}/_layers/sha256/{hex}/link");
    for hex in [&again, &missing] {
        s3.put("demo", &link_key(hex), format!("sha256:{hex}").as_bytes());
    }

    let (layout, plan) = open_and_plan(&config);
    let planned: Vec<String> = plan
        .repos
        .iter()
        .filter(|r| r.name == repo)
        .flat_map(|r| r.layer_links.iter().map(|d| d.to_string()))
        .collect();
    for hex in [&again, &missing] {
        assert!(planned.contains(&format!("sha256:{hex}")), "{planned:?}");
    }

    let blob_key = blob_data_key(&again);
    s3.put("demo", &blob_key, b"pushed again");
    let (applied, result) = registry_gc::sweep::apply(&layout, &plan);
    result.expect("apply");
    let left = s3.keys("demo", "");
    assert!(
        left.contains_key(&link_key(&again)),
        "the live layer's link stays"
    );
    assert!(left.contains_key(&blob_key));
    assert!(!left.contains_key(&link_key(&missing)));
    let all_planned: usize = plan.repos.iter().map(|r| r.layer_links.len()).sum();
    assert_eq!(applied.layer_links as usize, all_planned - 1, "all but one");
}

/// `skipverify: true` reaches an endpoint whose certificate no CA signed (a
/// MinIO with a self-signed one): the dry run reads the store and says what it
/// would delete, as over plain HTTP. Without it the run fails, naming the
/// certificate, and deletes nothing.
#[test]
fn skipverify_accepts_a_self_signed_endpoint_and_only_then() {
    let plain = S3Server::moto();
    upload_demo(&plain);
    let tls = S3Server::moto_tls();
    let before = upload_demo(&tls);
    let dir = tempfile::tempdir().unwrap();
    let over_http = cfg(dir.path(), "http", &plain.endpoint(), "demo", "");
    let (want, err, code) = run_ours_s3(&over_http, &["-d", "-m"]);
    assert_eq!(code, 0, "{err}");

    let trusting = cfg(
        dir.path(),
        "skip",
        &tls.endpoint(),
        "demo",
        "skipverify: true",
    );
    let (out, err, code) = run_ours_s3(&trusting, &["-d", "-m"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("blob eligible for deletion: "), "{out}");
    assert_eq!(out, want);

    let checking = cfg(dir.path(), "verify", &tls.endpoint(), "demo", "");
    let result = run_ours_s3(&checking, &["-m"]);
    assert_fails(
        "a self-signed certificate without skipverify",
        &result,
        &[
            "failed to garbage collect: S3 ",
            &format!("cannot connect to the endpoint {}", tls.endpoint()),
            "invalid peer certificate: UnknownIssuer",
        ],
    );
    assert_eq!(tls.keys("demo", ""), before, "nothing deleted");
}

/// A bucket with blobs but no `repositories/` key is a registry nobody pushed
/// to (or whose repositories are gone): nothing can be marked, so the run
/// says so, exits 0 and deletes nothing, as on disk (not "Path not found").
#[test]
fn blobs_without_repositories_are_left_alone() {
    let s3 = S3Server::moto();
    s3.create_bucket("norepos");
    let v2 = fixture_dir("demo").join("store/docker/registry/v2");
    s3.upload_dir("norepos", &format!("{V2_PREFIX}blobs/"), &v2.join("blobs"));
    let before = s3.keys("norepos", "");
    assert!(before.len() > 10, "{before:?}");
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(dir.path(), "norepos", &s3.endpoint(), "norepos", "");
    let (out, err, code) = run_ours_s3(&config, &["-m"]);
    assert_eq!((out.as_str(), code), ("", 0), "{err}");
    assert!(
        err.contains(&format!(
            "no repositories in this store yet, nothing to do (in s3://norepos/{})",
            V2_PREFIX.trim_end_matches('/')
        )),
        "{err}"
    );
    assert_eq!(s3.keys("norepos", ""), before, "nothing deleted");
}

/// A manifest of exactly the registry's 4 MiB limit is read on S3 (the
/// listing's size is compared with the limit, not the body), and one byte
/// over stops the run naming it, as on disk (`guard_tests`).
#[test]
fn a_manifest_at_the_size_limit_is_read_and_one_byte_over_is_refused() {
    let s3 = S3Server::moto();
    let dir = tempfile::tempdir().unwrap();
    let config_blob = sha256_hex(b"config");
    let json = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config_blob}","size":6}},"layers":[]}}"#
    );
    let limit = 4 << 20;
    // Padded inside the object: a manifest cut short would not parse.
    let mut at_limit = json.trim_end_matches('}').as_bytes().to_vec();
    at_limit.resize(limit - 1, b' ');
    at_limit.push(b'}');
    let mut over = at_limit.clone();
    over.push(b' ');
    for (bucket, manifest) in [("atlimit", &at_limit), ("overlimit", &over)] {
        s3.create_bucket(bucket);
        let hex = sha256_hex(manifest);
        let repo = format!("{V2_PREFIX}repositories/pad/big/_manifests");
        s3.put(bucket, &blob_data_key(&config_blob), b"config");
        s3.put(bucket, &blob_data_key(&hex), manifest);
        let link = format!("sha256:{hex}");
        s3.put(
            bucket,
            &format!("{repo}/revisions/sha256/{hex}/link"),
            link.as_bytes(),
        );
        s3.put(
            bucket,
            &format!("{repo}/tags/t/current/link"),
            link.as_bytes(),
        );
        let config = cfg(dir.path(), bucket, &s3.endpoint(), bucket, "");
        let result = run_ours_s3(&config, &["-d", "-m"]);
        if manifest.len() == limit {
            assert_eq!(result.2, 0, "{}", result.1);
            assert!(
                result
                    .0
                    .contains(&format!("pad/big: marking manifest {link}")),
                "{}",
                result.0
            );
        } else {
            assert_fails(
                "one byte over the limit",
                &result,
                &[
                    &format!("larger than the registry's {limit}-byte manifest limit"),
                    &format!("(in s3://{bucket}/{})", blob_data_key(&hex)),
                ],
            );
        }
    }
}

/// Plan, then a manifest pushed to a new repository that references a blob
/// the plan would delete, then the re-check and the sweep (issue 14): the
/// re-check lists `repositories/` again (not the listing made for the plan),
/// finds the new manifest and keeps its blob.
#[test]
fn the_recheck_sees_a_manifest_pushed_after_planning() {
    let s3 = S3Server::moto();
    upload_demo(&s3);
    let dir = tempfile::tempdir().unwrap();
    let config = cfg(dir.path(), "late", &s3.endpoint(), "demo", "");
    let (layout, mut plan) = open_and_plan(&config);
    let doomed = plan
        .blobs
        .first()
        .expect("a blob to sweep")
        .digest
        .to_string();

    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{doomed}","size":1}},"layers":[]}}"#
    );
    let hex = sha256_hex(manifest.as_bytes());
    s3.put("demo", &blob_data_key(&hex), manifest.as_bytes());
    let repo = format!("{V2_PREFIX}repositories/late/push/_manifests");
    let link = format!("sha256:{hex}");
    s3.put(
        "demo",
        &format!("{repo}/revisions/sha256/{hex}/link"),
        link.as_bytes(),
    );
    s3.put(
        "demo",
        &format!("{repo}/tags/t/current/link"),
        link.as_bytes(),
    );

    let rescued = registry_gc::recheck::recheck(&layout, &mut plan).expect("re-check");
    assert_eq!(rescued.blobs, 1, "the config blob is rescued");
    assert!(plan.blobs.iter().all(|b| b.digest.to_string() != doomed));
    let (_, result) = registry_gc::sweep::apply(&layout, &plan);
    result.expect("apply");
    let doomed_hex = doomed.strip_prefix("sha256:").unwrap();
    assert!(
        s3.keys("demo", "").contains_key(&blob_data_key(doomed_hex)),
        "kept"
    );
}
