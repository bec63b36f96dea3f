//! Every bad input of the reference's error table (§8): exit code, exact
//! message naming the file at fault, and nothing deleted, even in a real
//! `-m` run. Where upstream is wrong we assert our deliberate behaviour.

mod support;

use std::fs;
use std::path::Path;
use support::*;

const BASE: (&str, &str) = ("library/base", "latest");

fn hex(digest: &str) -> String {
    digest.trim_start_matches("sha256:").to_string()
}

fn revision_link(store: &Store, repo: &str, digest: &str) -> std::path::PathBuf {
    store
        .repo(repo)
        .join("_manifests/revisions/sha256")
        .join(hex(digest))
        .join("link")
}

fn base_manifest(store: &Store) -> String {
    store.tag_digest(BASE.0, BASE.1).unwrap()
}

/// Runs a real `-m` collection (the most destructive mode) and expects an
/// abort with exactly `message` (`<v2>` stands for the store's
/// `docker/registry/v2`) and no change to the store.
fn assert_aborts(store: &Store, message: &str) {
    let before = store.files();
    let out = run_ours(store, &["-m"]);
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&store.v2().display().to_string(), "<v2>");
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr, format!("{message}\n"));
    assert!(
        out.stdout.is_empty(),
        "no plan is printed when planning fails"
    );
    assert_eq!(store.files(), before, "nothing may be deleted");
}

/// A dry run succeeds with the demo store's baseline counts.
fn assert_baseline_dry_run(store: &Store) {
    let out = run_ours(store, &["-d"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        summary_counts(&String::from_utf8_lossy(&out.stdout)),
        (61, 3, 0)
    );
}

fn write(path: &Path, content: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn mark_prefix() -> &'static str {
    "failed to garbage collect: failed to mark: "
}

#[test]
fn unreadable_manifests_abort_naming_the_blob() {
    let cases: [(&[u8], &str); 7] = [
        (b"{this is not json", "key must be a string at line 1 column 2"),
        (b"garbage", "expected value at line 1 column 1"),
        (b"", "EOF while parsing a value at line 1 column 0"),
        (b"[1,2,3]", "manifest is not a JSON object"),
        (
            b"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example.unknown+json\"}",
            "errors verifying manifest: unrecognized manifest content type application/vnd.example.unknown+json",
        ),
        (b"{\"schemaVersion\":3}", "unrecognized manifest schema version 3"),
        // Upstream panics (exit 2) on this one.
        (b"{\"schemaVersion\":2,\"manifests\":\"oops\"}", "invalid type: string \"oops\", expected a sequence at line 1 column 37"),
    ];
    for (content, err) in cases {
        let store = fixture_copy("demo");
        let d = base_manifest(&store);
        fs::write(store.blob_data(&d), content).unwrap();
        let h = hex(&d);
        assert_aborts(
            &store,
            &format!("{}failed to retrieve manifest for digest {d}: {err} (in <v2>/blobs/sha256/{}/{h}/data)", mark_prefix(), &h[..2]),
        );
    }
}

/// A manifest blob that still parses but does not hash to its digest (a
/// corrupt or tampered store): upstream uses it as that manifest; we stop.
#[test]
fn a_manifest_that_does_not_hash_to_its_digest_aborts() {
    let store = fixture_copy("demo");
    let d = base_manifest(&store);
    let mut bytes = fs::read(store.blob_data(&d)).unwrap();
    bytes.extend_from_slice(b"\n");
    fs::write(store.blob_data(&d), &bytes).unwrap();
    let actual = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let h = hex(&d);
    assert_aborts(
        &store,
        &format!("{}failed to retrieve manifest for digest {d}: its content hashes to sha256:{actual}, not to its digest: the blob is corrupt (in <v2>/blobs/sha256/{}/{h}/data)", mark_prefix(), &h[..2]),
    );
}

#[test]
fn bad_revision_links_abort() {
    for (content, err) in [
        (&b"hello world"[..], "invalid checksum digest format"),
        (b"", "invalid checksum digest format"),
    ] {
        let store = fixture_copy("demo");
        let d = base_manifest(&store);
        fs::write(revision_link(&store, BASE.0, &d), content).unwrap();
        assert_aborts(
            &store,
            &format!(
                "{}{err} (in <v2>/repositories/library/base/_manifests/revisions/sha256/{}/link)",
                mark_prefix(),
                hex(&d)
            ),
        );
    }
    let store = fixture_copy("demo");
    let d = base_manifest(&store);
    fs::write(revision_link(&store, BASE.0, &d), format!("{d}\n")).unwrap();
    assert_aborts(
        &store,
        &format!("{}invalid checksum digest length (in <v2>/repositories/library/base/_manifests/revisions/sha256/{}/link)", mark_prefix(), hex(&d)),
    );
}

#[test]
fn bad_tag_link_matters_only_with_delete_untagged() {
    let store = fixture_copy("demo");
    write(
        &store
            .repo(BASE.0)
            .join("_manifests/tags/latest/current/link"),
        b"garbage",
    );
    assert_baseline_dry_run(&store);
    assert_aborts(
        &store,
        &format!("{}failed to retrieve tags: invalid checksum digest format (in <v2>/repositories/library/base/_manifests/tags/latest/current/link)", mark_prefix()),
    );
}

#[test]
fn bad_repository_name_and_missing_directories() {
    let store = fixture_copy("demo");
    fs::create_dir_all(store.v2().join("repositories/Bad_Name/_layers")).unwrap();
    assert_aborts(&store, &format!("{}failed to parse repo name Bad_Name: invalid reference format (in <v2>/repositories/Bad_Name)", mark_prefix()));

    let store = fixture_copy("demo");
    fs::remove_dir_all(store.v2().join("repositories")).unwrap();
    assert_aborts(
        &store,
        &format!(
            "{}Path not found: /docker/registry/v2/repositories (in <v2>/repositories)",
            mark_prefix()
        ),
    );

    let store = fixture_copy("demo");
    fs::remove_dir_all(store.v2().join("blobs")).unwrap();
    // Upstream deletes the queued -m manifests before failing here.
    assert_aborts(&store, "failed to garbage collect: error enumerating blobs: Path not found: /docker/registry/v2/blobs (in <v2>/blobs)");
}

#[test]
fn bad_blob_paths_abort_before_any_deletion() {
    let h = "0".repeat(64);
    let cases = [
        // Upstream deletes 12 revisions and 2 tag index dirs, then fails.
        ("sha256/zz/zzzz/data".to_string(), "blob directory outside a two-character prefix directory (in <v2>/blobs/sha256/zz/zzzz/data)".to_string()),
        ("md5/d4/d41d8cd98f00b204e9800998ecf8427e/data".to_string(), "unsupported digest algorithm (in <v2>/blobs/md5/d4/d41d8cd98f00b204e9800998ecf8427e/data)".to_string()),
        // Upstream panics: slice bounds out of range.
        ("sha256/ab/x/data".to_string(), "invalid checksum digest length (in <v2>/blobs/sha256/ab/x)".to_string()),
        // Upstream sweeps some blobs, then fails on this one.
        (format!("sha256/{h}/data"), format!("blob directory outside a two-character prefix directory (in <v2>/blobs/sha256/{h}/data)")),
        (format!("sha256/11/{h}/data"), format!("blob directory is not under its two-character prefix (in <v2>/blobs/sha256/11/{h})")),
    ];
    for (rel, err) in cases {
        let store = fixture_copy("demo");
        write(&store.v2().join("blobs").join(&rel), b"x");
        assert_aborts(
            &store,
            &format!("failed to garbage collect: error enumerating blobs: {err}"),
        );
    }
}

#[test]
fn stray_blob_entries_are_ignored() {
    let store = fixture_copy("demo");
    write(&store.v2().join("blobs/sha256/README"), b"x");
    fs::create_dir_all(store.v2().join("blobs/sha256/ab").join("ab".repeat(32))).unwrap();
    let out = run_ours(&store, &[]);
    assert!(out.status.success());
    assert!(store.v2().join("blobs/sha256/README").exists());
    assert!(store
        .v2()
        .join("blobs/sha256/ab")
        .join("ab".repeat(32))
        .exists());
}

#[test]
fn missing_manifest_blob_is_skipped_silently() {
    let store = fixture_copy("demo");
    let link = store
        .repo(BASE.0)
        .join("_manifests/revisions/sha256")
        .join("1".repeat(64))
        .join("link");
    write(&link, format!("sha256:{}", "1".repeat(64)).as_bytes());
    assert_baseline_dry_run(&store);
}

/// Revision directory `a` of `repo` whose link is rewritten to name `b`.
fn misplace(store: &Store, repo: &str, a: &str, b: &str) -> String {
    fs::write(revision_link(store, repo, a), b.as_bytes()).unwrap();
    format!(
        "failed to garbage collect: failed to mark: link names {b}, another digest than its path (in <v2>/repositories/{repo}/_manifests/revisions/sha256/{}/link)",
        hex(a)
    )
}

#[test]
fn misplaced_revision_link_stops_the_run() {
    // Revision directory A (which a tag names) whose link names B, a
    // manifest of another repository. Upstream takes the link for B, which
    // has no revision here, and sweeps A's manifest and config while
    // `deleted/manifest:keep` names A.
    let store = fixture_copy("demo");
    let a = store.tag_digest("deleted/manifest", "keep").unwrap();
    let b = base_manifest(&store);
    let message = misplace(&store, "deleted/manifest", &a, &b);
    let theirs = fixture_copy("demo");
    misplace(&theirs, "deleted/manifest", &a, &b);
    let out = run_oracle(&theirs, &[]);
    assert!(out.status.success());
    assert!(!theirs.blob_data(&a).exists(), "upstream sweeps A");
    assert_aborts(&store, &message);
    for flags in [&["-d"][..], &[]] {
        let out = run_ours(&store, flags);
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
    }

    // The same within one repository: the untagged revision U of
    // `team/app/api` names the tagged one T (upstream sweeps U's blob).
    let store = fixture_copy("demo");
    let t = store.tag_digest("team/app/api", "stable").unwrap();
    let u = fs::read_dir(
        store
            .repo("team/app/api")
            .join("_manifests/revisions/sha256"),
    )
    .unwrap()
    .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
    .find(|d| *d != t)
    .unwrap();
    let message = misplace(&store, "team/app/api", &u, &t);
    assert_aborts(&store, &message);
}

#[test]
fn misplaced_revision_link_under_keep_going_keeps_both_digests() {
    let store = fixture_copy("demo");
    let a = store.tag_digest("deleted/manifest", "keep").unwrap();
    let b = base_manifest(&store);
    let message = misplace(&store, "deleted/manifest", &a, &b);
    let fault = message.trim_start_matches("failed to garbage collect: failed to mark: ");
    let out = run_ours(&store, &["-m", "--keep-going"]);
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&store.v2().display().to_string(), "<v2>");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(fault), "the link is listed: {stderr}");
    for d in [&a, &b] {
        assert!(store.blob_data(d).exists(), "{d} is kept");
        for r in store.blob_json(d)["layers"].as_array().unwrap() {
            assert!(store.blob_data(r["digest"].as_str().unwrap()).exists());
        }
    }
    assert!(revision_link(&store, "deleted/manifest", &a).exists());
}

#[test]
fn stray_underscore_file_does_not_end_the_walk() {
    // Upstream 2.8.2 stops the walk here and then deletes every blob.
    let store = fixture_copy("demo");
    write(&store.v2().join("repositories/_aaa"), b"");
    assert_baseline_dry_run(&store);
    let theirs = run_oracle(&store, &["-d"]);
    assert_eq!(
        summary_counts(&String::from_utf8_lossy(&theirs.stdout)).0,
        0,
        "upstream marks nothing"
    );
}

#[test]
fn repository_without_layers_dir_is_still_found() {
    // Upstream 2.8.2 cannot see this repository and sweeps its live image.
    let store = fixture_copy("demo");
    fs::remove_dir_all(store.repo("team/app").join("_layers")).unwrap();
    let out = run_ours(&store, &[]);
    assert!(out.status.success());
    assert_eq!(
        summary_counts(&String::from_utf8_lossy(&out.stdout)),
        (61, 3, 0)
    );
    // (The registry itself serves no blob of a repository without
    // `_layers` links, so check the files rather than pull.)
    let d = store.tag_digest("team/app", "latest").unwrap();
    let m = store.blob_json(&d);
    let mut needed = vec![
        d.clone(),
        m["config"]["digest"].as_str().unwrap().to_string(),
    ];
    needed.extend(
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string()),
    );
    for n in needed {
        assert!(store.blob_data(&n).exists(), "{n} was swept");
    }
}

#[test]
fn repository_without_manifests_dir_is_tolerated() {
    let store = fixture_copy("demo");
    fs::remove_dir_all(store.repo("legacy/schema1").join("_manifests")).unwrap();
    let ours = run_ours(&store, &["-d"]);
    let theirs = run_oracle(&store, &["-d"]);
    assert!(ours.status.success());
    let o = String::from_utf8_lossy(&ours.stdout);
    assert_eq!(
        summary_counts(&o),
        summary_counts(&String::from_utf8_lossy(&theirs.stdout))
    );
    assert!(summary_counts(&o).1 > 3, "its blobs become eligible");
}

#[test]
fn garbage_layer_link_is_not_read_while_its_blob_lives() {
    let store = fixture_copy("demo");
    let layers = store.repo(BASE.0).join("_layers/sha256");
    let first = fs::read_dir(&layers)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::write(first.join("link"), b"garbage").unwrap();
    assert_baseline_dry_run(&store);
}

#[test]
fn missing_tags_dir_under_delete_untagged_makes_manifests_untagged() {
    // Upstream 2.8.2 aborts ("failed to retrieve tags unknown repository");
    // v3 keeps the revisions but sweeps their blobs. We treat the
    // repository as having no tags: its manifests are untagged.
    let store = fixture_copy("demo");
    fs::remove_dir_all(store.repo("legacy/schema1").join("_manifests/tags")).unwrap();
    let out = run_ours(&store, &["-d", "-m"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("manifest eligible for deletion: {legacy/schema1 sha256:"),
        "{text}"
    );
}
