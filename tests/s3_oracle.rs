//! The S3 harness with the real registry as oracle (issue 11, items 4 and 5):
//! stores pushed through docker-registry 2.8.2 into moto and SeaweedFS buckets,
//! the upstream collector run on them, and the fault/latency proxy.
//!
//! Differential plan for registry-gc's S3 backend, by transitivity:
//! 1. `oracle_on_moto_equals_oracle_on_disk_in_every_mode`: the demo scenario pushed
//!    through the real registry to moto ([`record_demo_on_s3`]) holds the same blobs as
//!    `fixtures/demo`, and upstream on S3 deletes exactly the keys (`registry/` + file)
//!    it deletes on disk, in every mode, with the same output and pulls;
//! 2. `tests/differential.rs`: registry-gc on disk vs upstream on disk, deliberate
//!    differences asserted;
//! 3. `differential_all_modes_on_moto` and `_on_seaweedfs`: registry-gc on S3 vs registry-gc on disk, same output and same
//!    deletions, and every tag pulls after its real runs.
//!
//! Bad input: `oracle_bad_inputs_on_seaweedfs` records upstream's answers (messages,
//! exit 1, nothing deleted) for the table registry-gc must match or document.
//!
//! Fault test (for the backend): put an [`S3Proxy`] with `--fail-rate`/`--drop-rate`
//! (optionally `--fail-methods POST --fail-match '[?&]delete'` to hit only
//! DeleteObjects, `--drop-after-forward` for deletes that happened unseen) between
//! registry-gc and moto, run `-m`, check that no key outside upstream's deleted set is
//! gone, then rerun without faults and compare with upstream's result.

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Instant;

use support::s3::*;
use support::*;

/// Writes a config for `bucket` into `dir` and returns its path.
fn config_in(dir: &tempfile::TempDir, server: &S3Server, bucket: &str) -> std::path::PathBuf {
    let p = dir.path().join(format!("{bucket}.yml"));
    config_yml_s3(&p, &server.endpoint(), bucket, "");
    p
}

/// The demo scenario pushed through the real registry into moto, then collected by
/// the oracle in every mode, each on its own copy of the bucket: the same exit code,
/// summary, eligible blobs and deleted keys as the filesystem fixture's recorded runs,
/// and after real runs the same tags pull (2.8.2's `-m` breaks the two multi-arch
/// tags on S3 as on disk). The original bucket is untouched. So upstream on S3 is
/// upstream on disk, and registry-gc on S3 can be compared with registry-gc on disk.
#[test]
fn oracle_on_moto_equals_oracle_on_disk_in_every_mode() {
    let t0 = Instant::now();
    let s3 = S3Server::moto();
    let demo = record_demo_on_s3(&s3, "demo");
    let recorded = s3.keys("demo", "");
    eprintln!("recorded {} keys in {:?}", recorded.len(), t0.elapsed());

    // Same blobs as the filesystem fixture (mkoci.py is deterministic).
    let fs_blobs: BTreeSet<String> = fixture_copy("demo")
        .files()
        .into_iter()
        .filter(|f| f.starts_with("docker/registry/v2/blobs/"))
        .map(|f| format!("{KEY_PREFIX}{f}"))
        .collect();
    let s3_blobs: BTreeSet<String> = recorded
        .keys()
        .filter(|k| k.starts_with(&format!("{V2_PREFIX}blobs/")))
        .cloned()
        .collect();
    assert_eq!(s3_blobs, fs_blobs, "the blobs the registry wrote to S3");

    let cfgdir = tempfile::tempdir().unwrap();
    for (mode, flags) in MODES {
        let bucket = format!("demo-{mode}");
        assert_eq!(s3.copy_bucket("demo", &bucket), recorded.len());
        let before = s3.keys(&bucket, "");
        assert_eq!(
            before, recorded,
            "the copy has every key, same sizes and ETags"
        );

        let n0 = s3.requests().len();
        let (out, err, code) = run_oracle_s3(&config_in(&cfgdir, &s3, &bucket), flags);
        let disk = recorded_oracle("demo", mode);
        assert_eq!(code, disk.exit, "oracle {mode}:\n{out}\n{err}");
        eprintln!("oracle {mode}: {} requests", s3.requests().len() - n0);
        assert_eq!(summary_counts(&out), summary_counts(&disk.stdout), "{mode}");
        assert_eq!(eligible_blobs(&out), eligible_blobs(&disk.stdout), "{mode}");

        let deleted = deleted_keys(&before, &s3.keys(&bucket, ""));
        let Some(disk_deleted) = disk.deleted else {
            assert!(deleted.is_empty(), "{mode}: {deleted:?}");
            continue;
        };
        assert!(!deleted.is_empty());
        let expected: BTreeSet<String> = disk_deleted
            .iter()
            .map(|f| format!("{KEY_PREFIX}{f}"))
            .collect();
        assert_eq!(deleted, expected, "{mode}");

        let reg = Served::start_s3(&s3.endpoint(), &bucket);
        let pulls: Vec<(String, bool)> = reg
            .pull_all(&demo.tags)
            .into_iter()
            .map(|(t, r)| (t, r.is_ok()))
            .collect();
        assert_eq!(pulls, disk.pulls.expect("recorded pulls"), "{mode}");
        for t in &demo.broken {
            assert!(reg.pull(t).is_err(), "{mode}: {t} must not pull");
        }
    }
    assert_eq!(
        s3.keys("demo", ""),
        recorded,
        "the source bucket is untouched"
    );
    eprintln!("total {:?}", t0.elapsed());
}

/// The proxy forwards signed requests unchanged: the registry pushes and pulls an
/// image through it (delay 0) to SeaweedFS, which checks SigV4 signatures (moto does
/// not), and every request it logged was forwarded.
#[test]
fn proxy_forwards_the_registry_unchanged() {
    let s3 = S3Server::seaweed();
    s3.create_bucket("viaproxy");
    let proxy = S3Proxy::start(s3.port, &["--delay-ms", "0"]);
    let reg = Served::start_s3(&proxy.endpoint(), "viaproxy");
    let lay = tempfile::tempdir().unwrap();
    oci::write_image(lay.path(), "x", &["proxied layer"]);
    reg.push(&format!("oci:{}:x", lay.path().display()), "p/img:1")
        .unwrap_or_else(|e| panic!("push through the proxy: {e}\n{}", reg.log()));
    reg.pull("p/img:1").expect("pull through the proxy");
    let reqs = proxy.requests();
    assert!(reqs.len() > 10, "{reqs:?}");
    assert!(reqs.iter().all(|r| r.outcome == "ok"), "{reqs:?}");
    assert!(
        reqs.iter()
            .any(|r| r.method == "PUT" && r.target.contains("/_manifests/tags/1/current/link")),
        "{reqs:?}"
    );
    // what the registry wrote through the proxy is in the bucket
    let keys = s3.keys("viaproxy", V2_PREFIX);
    assert!(keys.contains_key(&format!(
        "{V2_PREFIX}repositories/p/img/_manifests/tags/1/current/link"
    )));
    assert_eq!(proxy.stderr(), "");
}

/// `curl` through the proxy: (HTTP status, curl exit code, body).
fn curl_status(url: &str, method: &str) -> (String, i32, String) {
    let body = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("curl")
        .args(["-s", "-X", method, "-o"])
        .arg(body.path())
        .args(["-w", "%{http_code}", url])
        .output()
        .expect("run curl");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
        std::fs::read_to_string(body.path()).unwrap_or_default(),
    )
}

/// Faults: `--fail-rate 1` answers 503 SlowDown without forwarding, only for the
/// methods of `--fail-methods`; `--drop-rate 1` closes the connection unanswered;
/// a seed fixes the sequence of decisions.
#[test]
fn proxy_injects_slowdown_and_dropped_connections() {
    let s3 = S3Server::moto();
    s3.create_bucket("faults");
    let fail = S3Proxy::start(s3.port, &["--fail-rate", "1", "--fail-methods", "GET"]);
    let (status, _, body) = curl_status(&format!("{}/faults?list-type=2", fail.endpoint()), "GET");
    assert_eq!(status, "503");
    assert!(body.contains("<Code>SlowDown</Code>"), "{body}");
    let (status, _, _) = curl_status(&format!("{}/faults/k", fail.endpoint()), "HEAD");
    assert_eq!(status, "404", "HEAD is not in --fail-methods: forwarded");
    let outcomes: Vec<String> = fail.requests().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, ["fail", "ok"]);

    let drop = S3Proxy::start(s3.port, &["--drop-rate", "1"]);
    let (status, code, _) = curl_status(&format!("{}/faults?list-type=2", drop.endpoint()), "GET");
    assert_eq!(
        (status.as_str(), code),
        ("000", 52),
        "empty reply from server"
    );
    assert_eq!(drop.requests()[0].outcome, "drop");

    let pattern = |seed: &str| {
        let p = S3Proxy::start(s3.port, &["--fail-rate", "0.5", "--seed", seed]);
        (0..16)
            .map(|_| curl_status(&format!("{}/faults?list-type=2", p.endpoint()), "GET").0)
            .collect::<Vec<_>>()
    };
    let a = pattern("7");
    assert_eq!(a, pattern("7"), "same seed, same faults");
    assert!(
        a.iter().any(|s| s == "503") && a.iter().any(|s| s == "200"),
        "{a:?}"
    );
}

/// SeaweedFS: the registry pushes into it and the oracle collects it (dry run).
#[test]
fn oracle_runs_on_seaweedfs() {
    let t0 = Instant::now();
    let s3 = S3Server::seaweed();
    eprintln!("weed up in {:?}", t0.elapsed());
    s3.create_bucket("registry");
    let reg = Served::start_s3(&s3.endpoint(), "registry");
    let lay = tempfile::tempdir().unwrap();
    oci::write_image(lay.path(), "x", &["weed layer a", "weed layer b"]);
    reg.push(&format!("oci:{}:x", lay.path().display()), "w/img:1")
        .unwrap_or_else(|e| panic!("push to SeaweedFS: {e}\n{}", reg.log()));
    // an untagged revision: the same repository re-tagged with another image
    let lay2 = tempfile::tempdir().unwrap();
    oci::write_image(lay2.path(), "x", &["weed layer c"]);
    reg.push(&format!("oci:{}:x", lay2.path().display()), "w/img:1")
        .unwrap_or_else(|e| panic!("push to SeaweedFS: {e}\n{}", reg.log()));
    drop(reg);
    let keys = s3.keys("registry", "");
    assert!(keys.keys().all(|k| k.starts_with(V2_PREFIX)), "{keys:?}");
    let cfgdir = tempfile::tempdir().unwrap();
    let cfg = config_in(&cfgdir, &s3, "registry");
    let (out, err, code) = run_oracle_s3(&cfg, &["-d", "-m"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // kept: config + 1 layer + manifest of the tagged image; eligible: the
    // untagged manifest, its config and its two layers
    assert_eq!(summary_counts(&out), (3, 4, 1), "{out}");
    assert_eq!(s3.keys("registry", ""), keys, "a dry run deletes nothing");
    eprintln!("total {:?}", t0.elapsed());
}

/// registry-gc on copies of the demo bucket and on copies of the filesystem fixture,
/// in every mode: the same exit code, summary, eligible blobs and manifests, and the
/// same deletions (keys = `registry/` + files). With
/// `oracle_on_moto_equals_oracle_on_disk_in_every_mode` (upstream on S3 = upstream on
/// disk) and `tests/differential.rs` (registry-gc on disk vs upstream, deliberate
/// differences asserted) this is the differential test on S3. After real runs every
/// tag pulls. Needs the S3 backend.
#[test]
fn differential_all_modes_on_moto() {
    differential_all_modes(S3Server::moto());
}

/// The same on SeaweedFS, which (unlike moto) checks signatures and stores
/// on disk.
#[test]
fn differential_all_modes_on_seaweedfs() {
    differential_all_modes(S3Server::seaweed());
}

fn differential_all_modes(s3: S3Server) {
    let demo = record_demo_on_s3(&s3, "demo");
    let before = s3.keys("demo", "");
    let cfgdir = tempfile::tempdir().unwrap();
    for (mode, flags) in MODES {
        let bucket = format!("ours-{mode}");
        s3.copy_bucket("demo", &bucket);
        let (out, err, code) = run_ours_s3(&config_in(&cfgdir, &s3, &bucket), flags);
        let disk = fixture_copy("demo");
        let disk_before = disk.files();
        let d = run_ours(&disk, flags);
        let d_out = String::from_utf8_lossy(&d.stdout);
        assert_eq!(code, d.status.code().unwrap(), "{mode}:\n{out}\n{err}");
        assert_eq!(code, 0, "{mode}:\n{out}\n{err}");
        assert_eq!(summary_counts(&out), summary_counts(&d_out), "{mode}");
        assert_eq!(eligible_blobs(&out), eligible_blobs(&d_out), "{mode}");
        assert_eq!(
            eligible_manifests(&out),
            eligible_manifests(&d_out),
            "{mode}"
        );
        let on_disk: BTreeSet<String> = disk_before
            .difference(&disk.files())
            .map(|f| format!("{KEY_PREFIX}{f}"))
            .collect();
        assert_eq!(
            deleted_keys(&before, &s3.keys(&bucket, "")),
            on_disk,
            "{mode}"
        );
        if !flags.contains(&"-d") {
            let reg = Served::start_s3(&s3.endpoint(), &bucket);
            for (t, r) in reg.pull_all(&demo.tags) {
                assert!(r.is_ok(), "{mode}: {t} no longer pulls: {r:?}");
            }
        }
    }
}

/// A registry on SeaweedFS holding `lib/base:1` and `lib/app:1` (pushed through the
/// real registry into bucket `registry`).
fn seaweed_with_two_images() -> S3Server {
    let s3 = S3Server::seaweed();
    s3.create_bucket("registry");
    let reg = Served::start_s3(&s3.endpoint(), "registry");
    for (repo, layers) in [
        ("lib/base", &["base a", "base b"][..]),
        ("lib/app", &["base a", "app"][..]),
    ] {
        let lay = tempfile::tempdir().unwrap();
        oci::write_image(lay.path(), "x", layers);
        reg.push(
            &format!("oci:{}:x", lay.path().display()),
            &format!("{repo}:1"),
        )
        .unwrap_or_else(|e| panic!("push {repo}: {e}\n{}", reg.log()));
    }
    s3
}

/// Upstream's answers to the bad inputs of issue 11 on S3 (SeaweedFS checks
/// signatures), for registry-gc's bad-input table: exit 1, the message, and
/// nothing deleted, in a real run. 2.8.2 accepts `v4auth: false` (SigV2) where
/// SeaweedFS does.
#[test]
fn oracle_bad_inputs_on_seaweedfs() {
    let s3 = seaweed_with_two_images();
    let keys = s3.keys("registry", "");
    let cfgdir = tempfile::tempdir().unwrap();
    let cfg = |name: &str, bucket: &str, endpoint: &str, extra: &str| {
        let p = cfgdir.path().join(format!("{name}.yml"));
        config_yml_s3(&p, endpoint, bucket, extra);
        p
    };
    let fails = |cfg: &std::path::Path, message: &str| {
        let (out, err, code) = run_oracle_s3(cfg, &[]);
        assert_eq!(code, 1, "{}: {out}\n{err}", cfg.display());
        assert!(
            err.lines()
                .any(|l| l.starts_with("failed to garbage collect: ") && l.contains(message)),
            "{}: no `{message}` in:\n{err}",
            cfg.display()
        );
    };
    let ep = s3.endpoint();
    fails(
        &cfg("nobucket", "nosuchbucket", &ep, ""),
        "failed to mark: s3aws: NoSuchBucket: The specified bucket does not exist",
    );
    fails(
        &cfg("wrongkey", "registry", &ep, "secretkey: wrong"),
        "failed to mark: s3aws: SignatureDoesNotMatch",
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    fails(
        &cfg(
            "unreachable",
            "registry",
            &format!("http://127.0.0.1:{closed}"),
            "",
        ),
        "failed to mark: s3aws: RequestError: send request failed",
    );
    assert_eq!(s3.keys("registry", ""), keys);
    let (out, _, code) = run_oracle_s3(&cfg("sigv2", "registry", &ep, "v4auth: false"), &["-d"]);
    let blobs = keys
        .keys()
        .filter(|k| k.starts_with(&format!("{V2_PREFIX}blobs/")))
        .count() as u64;
    assert_eq!((code, summary_counts(&out)), (0, (blobs, 0, 0)), "{out}");

    // One broken key per copy of the bucket: a real run must fail before deleting.
    let tag_link = format!("{V2_PREFIX}repositories/lib/base/_manifests/tags/1/current/link");
    let digest = String::from_utf8(s3.get("registry", &tag_link)).unwrap();
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    let cases: [(&str, String, &[u8], &str); 4] = [
        (
            "badkey",
            format!("{V2_PREFIX}blobs/sha256/zz/notadigest/data"),
            b"junk",
            "error enumerating blobs: s3aws: unsupported digest algorithm",
        ),
        (
            "badmanifest",
            format!("{V2_PREFIX}blobs/sha256/{}/{hex}/data", &hex[..2]),
            b"{not json",
            &format!("failed to retrieve manifest for digest {digest}: invalid character"),
        ),
        (
            "badlink",
            format!("{V2_PREFIX}repositories/lib/base/_manifests/revisions/sha256/{hex}/link"),
            b"sha256:nothex",
            "invalid checksum digest length",
        ),
        (
            "badrevision",
            format!("{V2_PREFIX}repositories/lib/base/_manifests/revisions/sha256/nothex/link"),
            b"x",
            "invalid checksum digest format",
        ),
    ];
    for (name, key, bytes, message) in cases {
        s3.copy_bucket("registry", name);
        s3.put(name, &key, bytes);
        let before = s3.keys(name, "");
        fails(&cfg(name, name, &ep, ""), message);
        assert_eq!(s3.keys(name, ""), before, "{name}: nothing deleted");
    }
}

/// Upstream under faults injected by the proxy: it retries dropped connections
/// (and 503 SlowDown, with backoff) and gives up after its SDK's 3 retries.
#[test]
fn oracle_retries_faults_then_gives_up() {
    let s3 = seaweed_with_two_images();
    let cfgdir = tempfile::tempdir().unwrap();
    let cfg = cfgdir.path().join("via-proxy.yml");

    let drops = S3Proxy::start(s3.port, &["--drop-rate", "0.3", "--seed", "1"]);
    config_yml_s3(&cfg, &drops.endpoint(), "registry", "");
    let (out, err, code) = run_oracle_s3(&cfg, &["-d"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let outcomes: Vec<String> = drops.requests().into_iter().map(|r| r.outcome).collect();
    assert!(outcomes.iter().any(|o| o == "drop"), "{outcomes:?}");

    let slowdown = S3Proxy::start(s3.port, &["--fail-rate", "0.9", "--seed", "1"]);
    config_yml_s3(&cfg, &slowdown.endpoint(), "registry", "");
    let (out, err, code) = run_oracle_s3(&cfg, &["-d"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("failed to mark: s3aws: SlowDown: Please reduce your request rate."),
        "{err}"
    );
    let outcomes: Vec<String> = slowdown.requests().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, ["fail"; 4], "one request, 3 retries");
}
