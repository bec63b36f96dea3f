//! Tests that pin the fail-closed guards of mark, plan and sweep: each one
//! fails if a guard is widened or dropped (see `.cargo/mutants.toml`).

use crate::delete::fail_next_removal;
use crate::digest::Digest;
use crate::error::GcError;
use crate::plan::{plan, Options};
use crate::store::fs::fail_next_open;
use crate::sweep;
use crate::testing::Store;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const HOUR: Duration = Duration::from_secs(3600);

fn options(delete_untagged: bool, grace_period: Option<Duration>) -> Options {
    Options {
        delete_untagged,
        grace_period,
        ..Options::default()
    }
}

fn set_mtime(path: &Path, when: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// A store with a tagged image, an untagged one and an orphan blob in `a`:
/// every run with `-m` on it has something to delete.
fn store() -> (Store, Digest, Digest) {
    let s = Store::new();
    let tagged = s.image("a", &["kept"]);
    s.tag("a", "t", &tagged);
    let untagged = s.image("a", &["doomed"]);
    s.tag("a", "old", &untagged);
    s.tag("a", "old", &tagged);
    s.blob(b"orphan");
    (s, tagged, untagged)
}

/// Moves `path` out of the store and puts a symlink to it in its place.
fn replace_with_symlink(path: &Path, outside: &Path) -> PathBuf {
    let moved = outside.join(path.file_name().unwrap());
    fs::rename(path, &moved).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    symlink(&moved, path).unwrap();
    path.to_path_buf()
}

/// Planning fails with a fault naming `path`, and changes nothing.
fn assert_plan_refuses(s: &Store, options: Options, path: &Path, message: &str) {
    let before = s.files();
    match plan(&s.layout, options) {
        Err(GcError::Mark(f)) => {
            assert_eq!(f.path, path, "{f}");
            assert!(f.message.contains(message), "{f}");
        }
        other => panic!("{}: expected a mark fault, got {other:?}", path.display()),
    }
    assert_eq!(s.files(), before);
}

#[test]
fn a_symlink_wherever_the_mark_walks_aborts_the_plan() {
    type Place = fn(&Store, &Digest) -> PathBuf;
    let places: [(&str, Place); 7] = [
        ("revision algorithm", |s, _| {
            s.layout.revisions("a").join("sha256")
        }),
        ("revision", |s, d| s.layout.revision_dir("a", d)),
        ("tag", |s, _| s.layout.tag_dir("a", "t")),
        ("tag index algorithm", |s, _| {
            s.layout.tag_index("a", "old").join("sha256")
        }),
        ("tag index entry", |s, d| {
            s.layout.tag_index_entry("a", "old", d)
        }),
        ("layers algorithm", |s, _| {
            s.layout.layers("a").join("sha256")
        }),
        ("layer", |s, _| {
            let dir = s.layout.layers("a").join("sha256");
            fs::read_dir(dir).unwrap().next().unwrap().unwrap().path()
        }),
    ];
    for (what, place) in places {
        let (s, tagged, untagged) = store();
        let outside = tempfile::tempdir().unwrap();
        let d = if what == "revision" {
            &untagged
        } else {
            &tagged
        };
        let link = replace_with_symlink(&place(&s, d), outside.path());
        for grace in [None, Some(HOUR)] {
            assert_plan_refuses(
                &s,
                options(true, grace),
                &link,
                "symbolic link inside the store",
            );
        }
        if what.starts_with("revision") || what.starts_with("layer") {
            assert_plan_refuses(
                &s,
                options(false, None),
                &link,
                "symbolic link inside the store",
            );
        }
    }
}

#[test]
fn a_tag_name_that_is_not_utf8_aborts_the_plan() {
    use std::os::unix::ffi::OsStrExt;
    let (s, _, _) = store();
    let bad = s
        .layout
        .tags("a")
        .join(std::ffi::OsStr::from_bytes(b"v\xff"));
    fs::create_dir(&bad).unwrap();
    assert_plan_refuses(&s, options(true, None), &bad, "tag name is not UTF-8");
}

#[test]
fn an_unreadable_revision_link_aborts_with_or_without_a_grace_period() {
    // A link that loops: opening it fails with ELOOP, not "not found".
    let (s, _, untagged) = store();
    let link = s.layout.revision_dir("a", &untagged).join("link");
    fs::remove_file(&link).unwrap();
    symlink("link", &link).unwrap();
    let message = "symbolic link inside the store";
    assert_plan_refuses(&s, options(true, Some(HOUR)), &link, message);
    assert_plan_refuses(&s, options(true, None), &link, message);
    assert_plan_refuses(&s, options(false, None), &link, message);
}

#[test]
fn a_young_dangling_layer_link_is_kept_under_a_grace_period() {
    let s = Store::new();
    let m = s.image("a", &["x"]);
    s.tag("a", "t", &m);
    // Links written by a push in progress: one whose blob is not there
    // yet, one whose (old, unreferenced) blob is about to be swept.
    let absent = Digest::sha256_of(b"being pushed");
    s.link(s.layout.layer_link("a", &absent), &absent);
    let old_blob = s.blob(b"old layer");
    let long_ago = SystemTime::now() - 48 * HOUR;
    set_mtime(&s.layout.blob_data(&old_blob), long_ago);
    s.link(s.layout.layer_link("a", &old_blob), &old_blob);

    let young = plan(&s.layout, options(false, Some(HOUR))).unwrap();
    assert!(young.repos[0].layer_links.is_empty(), "{young:?}");
    assert_eq!(young.blobs.len(), 1, "the old blob still goes");

    for d in [&absent, &old_blob] {
        set_mtime(&s.layout.layer_link("a", d), long_ago);
    }
    let old = plan(&s.layout, options(false, Some(HOUR))).unwrap();
    let mut both = vec![absent, old_blob];
    both.sort();
    assert_eq!(old.repos[0].layer_links, both);
}

#[test]
fn a_blob_pushed_again_between_plan_and_sweep_keeps_its_link() {
    let s = Store::new();
    let m = s.image("a", &["x"]);
    s.tag("a", "t", &m);
    let content = b"pushed again";
    let again = Digest::sha256_of(content);
    let missing = Digest::sha256_of(b"never pushed");
    let swept = s.blob(b"unreferenced");
    for d in [&again, &missing, &swept] {
        s.link(s.layout.layer_link("a", d), d);
    }
    let p = s.plan(false);
    assert_eq!(p.layer_link_count(), 3);

    assert_eq!(s.blob(content), again);
    let (applied, result) = sweep::apply(&s.layout, &p);
    result.unwrap();
    assert!(
        s.layout.layer_link("a", &again).is_file(),
        "the live layer stays"
    );
    assert!(!s.layout.layer_link("a", &missing).exists());
    assert!(!s.layout.layer_link("a", &swept).exists());
    assert_eq!((applied.blobs, applied.layer_links), (1, 2));
}

#[test]
fn a_blob_prefix_that_cannot_be_opened_aborts_the_plan() {
    // Listed, then not opened (EIO, injected): never read as "no blobs",
    // which would skip the tagged manifest stored there and sweep its layers.
    let (s, tagged, _) = store();
    let prefix = s.layout.blob_dir(&tagged).parent().unwrap().to_path_buf();
    for delete_untagged in [false, true] {
        fail_next_open(&prefix, libc::EIO);
        match plan(&s.layout, options(delete_untagged, None)) {
            Err(GcError::Enumerate(f)) => {
                assert_eq!(f.path, prefix, "{f}");
                assert_eq!(f.message, "open: input/output error");
            }
            other => panic!("expected an enumeration fault, got {other:?}"),
        }
    }
}

/// Plans `-m` on [`store`], breaks the untagged manifest's deletion with
/// `break_it`, then applies: the sweep must stop before any blob goes.
fn sweep_stops_when(break_it: impl Fn(&Store, &Digest), message: &str) {
    let (s, _, untagged) = store();
    let p = s.plan(true);
    assert_eq!((p.manifest_count(), p.blobs.len()), (1, 4), "{p:?}");
    break_it(&s, &untagged);
    let before = s.files();
    let (applied, result) = sweep::apply(&s.layout, &p);
    match result {
        Err(GcError::Delete { what, fault }) => {
            assert_eq!(what, format!("manifest {untagged}"));
            assert!(fault.message.contains(message), "{fault}");
        }
        other => panic!("expected a delete failure, got {other:?}"),
    }
    assert_eq!(applied.blobs, 0);
    for b in &p.blobs {
        assert!(
            s.layout.blob_data(&b.digest).is_file(),
            "{} stays",
            b.digest
        );
    }
    let kept: Vec<_> = before.iter().filter(|f| !f.ends_with("/link")).collect();
    let after = s.files();
    assert!(kept.iter().all(|f| after.contains(*f)), "{after:?}");
}

#[test]
fn a_failed_manifest_deletion_stops_the_sweep() {
    // Stat fails: the revisions directory became a regular file (ENOTDIR).
    sweep_stops_when(
        |s, _| {
            let dir = s.layout.revisions("a").join("sha256");
            fs::rename(&dir, s.layout.revisions("a").join("moved")).unwrap();
            fs::write(&dir, "not a directory").unwrap();
        },
        "stat: not a directory",
    );
    // The removal fails (EIO, injected), on the fast path...
    sweep_stops_when(
        |s, d| fail_next_removal(&s.layout.revision_dir("a", d), libc::EIO),
        "delete: input/output error",
    );
    // ...and on the general one (a `link` that is a directory sends it there).
    sweep_stops_when(
        |s, d| {
            let dir = s.layout.revision_dir("a", d);
            fs::remove_file(dir.join("link")).unwrap();
            fs::create_dir(dir.join("link")).unwrap();
            fail_next_removal(&dir, libc::EIO);
        },
        "delete: input/output error",
    );
}

#[test]
fn a_young_untagged_manifest_is_kept_under_a_grace_period() {
    let (s, tagged, untagged) = store();
    // A revision deleted through the API: its directory without a link.
    let deleted = s.image("a", &["deleted"]);
    fs::remove_file(s.layout.revision_dir("a", &deleted).join("link")).unwrap();
    let young = plan(&s.layout, options(true, Some(HOUR))).unwrap();
    assert_eq!(young.manifest_count(), 0, "{young:?}");
    assert_eq!(young.young_manifests, 1);
    let doomed: Vec<&Digest> = young.blobs.iter().map(|b| &b.digest).collect();
    assert!(!doomed.contains(&&untagged) && !doomed.contains(&&tagged));
    // Kept for its young revision (reported as such), not because tagged.
    let kept_young: Vec<&Digest> = young.young_blobs.iter().map(|b| &b.digest).collect();
    assert!(kept_young.contains(&&untagged) && !kept_young.contains(&&tagged));

    let long_ago = SystemTime::now() - 48 * HOUR;
    for d in [&tagged, &untagged] {
        set_mtime(&s.layout.revision_dir("a", d).join("link"), long_ago);
    }
    let old = plan(&s.layout, options(true, Some(HOUR))).unwrap();
    assert_eq!(old.repos[0].manifests.len(), 1);
    assert_eq!(old.repos[0].manifests[0].digest, untagged);
    assert!(old.young_blobs.iter().any(|b| b.digest == deleted));
    assert_eq!(old.young_manifests, 0);
}

#[test]
fn a_broken_repository_under_keep_going_keeps_all_it_may_reference() {
    let (s, _, _) = store();
    let tagged = s.image("b", &["b tagged"]);
    s.tag("b", "t", &tagged);
    let untagged = s.image("b", &["b untagged"]);
    let bad = s
        .layout
        .revision_dir("b", &Digest::sha256_of(b"bad"))
        .join("link");
    s.link(bad.clone(), &untagged);
    fs::write(&bad, "not a digest").unwrap();
    // A sha512 upload: the blob is stored under its sha256 digest, only the
    // alias link names it.
    let aliased = s.blob(b"b aliased");
    let sha512 = Digest::parse(&format!("sha512:{}", "5".repeat(128))).unwrap();
    s.link(s.layout.layer_link("b", &sha512), &aliased);
    let options = Options {
        keep_going: true,
        ..options(true, None)
    };
    let p = plan(&s.layout, options).unwrap();
    assert_eq!(p.faults.len(), 1);
    assert_eq!(p.faults[0].path, bad);
    assert_eq!(p.repos[1].name, "b");
    assert!(p.repos[1].manifests.is_empty());
    // Only `a`'s untagged image (manifest, config, layer) and the orphan go.
    assert_eq!(p.blobs.len(), 4, "{:?}", p.blobs);
    let doomed: Vec<&Digest> = p.blobs.iter().map(|b| &b.digest).collect();
    for f in s.files() {
        let Some(link) = f.strip_prefix("repositories/b/") else {
            continue;
        };
        if link.ends_with("/link") && !link.contains("revisions/sha256/") {
            let d = Digest::parse_bytes(&fs::read(s.layout.v2().join(&f)).unwrap()).unwrap();
            assert!(!doomed.contains(&&d), "{f}");
        }
    }
    assert!(!doomed.contains(&&untagged) && !doomed.contains(&&tagged));
    assert!(!doomed.contains(&&aliased));
    // The re-check does not read the broken repository's revisions again.
    let mut p = p;
    let rescued = crate::recheck::recheck(&s.layout, &mut p).unwrap();
    assert_eq!((rescued.roots, rescued.manifests, rescued.blobs), (0, 0, 0));
}

#[test]
fn a_manifest_over_the_registry_limit_aborts_the_plan() {
    let s = Store::new();
    let layer = s.blob(b"layer");
    let json = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"digest":"{layer}"}},"layers":[]}}"#,
        crate::manifest::OCI_MANIFEST
    );
    let limit = crate::manifest::MAX_MANIFEST_BYTES as usize;
    // Padded inside the object: a manifest cut short does not parse.
    let mut at_limit = json.trim_end_matches('}').as_bytes().to_vec();
    at_limit.resize(limit - 1, b' ');
    at_limit.push(b'}');
    let mut over = at_limit.clone();
    over.push(b' ');
    let fine = s.blob(&at_limit);
    s.link(s.layout.revision_dir("a", &fine).join("link"), &fine);
    assert!(plan(&s.layout, options(false, None)).is_ok());
    let big = s.blob(&over);
    s.link(s.layout.revision_dir("a", &big).join("link"), &big);
    assert_plan_refuses(
        &s,
        options(false, None),
        &s.layout.blob_data(&big),
        "manifest limit",
    );
}

#[test]
fn a_misplaced_revision_link_stops_the_plan() {
    // Directory A's link names B: a corrupt store, whether B has a revision
    // link of its own or not, with or without -m and a grace period.
    let s = Store::new();
    s.image("a", &["kept"]);
    let b = s.image("a", &["only b"]);
    let a = Digest::sha256_of(b"misplaced");
    let link = s.layout.revision_dir("a", &a).join("link");
    s.link(link.clone(), &b);
    let message = "another digest than its path";
    for opts in [
        options(false, None),
        options(true, None),
        options(true, Some(HOUR)),
    ] {
        assert_plan_refuses(&s, opts, &link, message);
    }
    fs::remove_file(s.layout.revision_dir("a", &b).join("link")).unwrap();
    assert_plan_refuses(&s, options(false, None), &link, message);
}

#[test]
fn a_manifest_tagged_after_planning_is_taken_out_of_the_plan() {
    let (s, _, untagged) = store();
    let other = s.image("a", &["other"]);
    let mut p = s.plan(true);
    assert_eq!((p.manifest_count(), p.blobs.len()), (2, 7));
    assert_eq!(p.layer_link_count(), 4);
    s.tag("a", "new", &untagged);
    let rescued = crate::recheck::recheck(&s.layout, &mut p).unwrap();
    assert_eq!(
        (rescued.manifests, rescued.blobs, rescued.layer_links),
        (1, 3, 2)
    );
    assert_eq!(rescued.roots, 1);
    assert_eq!(
        (p.manifest_count(), p.blobs.len(), p.layer_link_count()),
        (1, 4, 2)
    );
    assert_eq!(p.repos[0].manifests[0].digest, other);
    let (applied, result) = sweep::apply(&s.layout, &p);
    result.unwrap();
    assert_eq!(applied.blobs, 4, "the orphan and the other image");
    assert!(s.layout.blob_data(&untagged).is_file());
    assert!(s.layout.revision_dir("a", &untagged).join("link").is_file());
    assert!(!s.layout.blob_data(&other).exists());
    let layer_link = |content: &[u8]| s.layout.layer_link("a", &Digest::sha256_of(content));
    assert!(
        layer_link(b"doomed").is_file(),
        "the rescued layer keeps its link"
    );
    assert!(!layer_link(b"other").exists());
}

#[test]
fn uploads_planning_refuses_what_it_cannot_read_and_keeps_the_boundary() {
    use crate::uploads::{parse_rfc3339, plan as uploads_plan};
    use std::os::unix::ffi::OsStrExt;
    assert_eq!(parse_rfc3339("2026-11-23T12:41:09+0a:00"), None);
    assert_eq!(parse_rfc3339("2026-11-23T12:41:09+01:x0"), None);

    let s = Store::new();
    s.image("a", &["x"]);
    let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_434_069);
    let upload = s.layout.upload_dir("a", "u");
    fs::create_dir_all(&upload).unwrap();
    fs::write(upload.join("startedat"), "2026-11-23T11:41:09Z").unwrap();
    let at = |age: Duration| uploads_plan(&s.layout, age, started + age).unwrap();
    assert_eq!(
        (at(HOUR).kept, at(HOUR).purge.len()),
        (1, 0),
        "exactly the age"
    );
    assert_eq!(
        uploads_plan(&s.layout, HOUR, started + 2 * HOUR)
            .unwrap()
            .purge
            .len(),
        1
    );

    let refuses = |path: &Path, message: &str| match uploads_plan(&s.layout, HOUR, started) {
        Err(crate::uploads::PurgeError::Read(f)) => {
            assert_eq!(f.path, path, "{f}");
            assert!(f.message.contains(message), "{f}");
        }
        other => panic!("{}: expected a read fault, got {other:?}", path.display()),
    };
    let outside = tempfile::tempdir().unwrap();
    let link = s.layout.upload_dir("a", "v");
    symlink(outside.path(), &link).unwrap();
    refuses(&link, "symbolic link inside the store");
    fs::remove_file(&link).unwrap();

    let bad = s
        .layout
        .uploads("a")
        .join(std::ffi::OsStr::from_bytes(b"w\xff"));
    fs::create_dir(&bad).unwrap();
    refuses(&bad, "not UTF-8");
    fs::remove_dir(&bad).unwrap();

    // Without startedat (only "not found" means that) the mtime dates it.
    fs::remove_file(upload.join("startedat")).unwrap();
    assert_eq!(at(HOUR).purge.len() + at(HOUR).kept, 1);
    symlink(outside.path().join("t"), upload.join("startedat")).unwrap();
    refuses(&upload.join("startedat"), "symbolic link inside the store");
}

/// An empty store whose repository `a` is at a path over 3850 bytes long:
/// a few more components take it over PATH_MAX (4096), where every system
/// call fails with ENAMETOOLONG, even as root.
fn long_store(dir: &Path) -> crate::layout::Layout {
    use crate::layout::Layout;
    let mut root = dir.to_path_buf();
    while Layout::new(&root).tags("a").as_os_str().len() < 3850 {
        root.push("r".repeat(200));
    }
    let layout = Layout::new(&root);
    fs::create_dir_all(layout.tags("a")).unwrap();
    fs::create_dir_all(layout.blobs()).unwrap();
    layout
}

#[test]
fn an_upload_whose_startedat_cannot_be_stat_aborts_the_plan() {
    use crate::uploads::{plan as uploads_plan, PurgeError};
    // lstat of `startedat` fails with ENAMETOOLONG (even as root): its path
    // is just over PATH_MAX while the upload's directory is just under it.
    // Only "not found" may mean "no startedat"; anything else aborts.
    let dir = tempfile::tempdir().unwrap();
    let layout = long_store(dir.path());
    let short = layout.upload_dir("a", "").as_os_str().len();
    let upload = layout.upload_dir("a", &"u".repeat(4090 - short));
    assert_eq!(upload.as_os_str().len(), 4090);
    fs::create_dir_all(&upload).unwrap();
    let startedat = upload.join("startedat");
    match uploads_plan(&layout, HOUR, SystemTime::now()) {
        Err(PurgeError::Read(f)) => {
            assert_eq!(f.path, startedat, "{f}");
            assert!(f.message.contains("file name too long"), "{f}");
        }
        other => panic!("expected a read fault, got {other:?}"),
    }
}

#[test]
fn a_tag_pushed_again_between_prune_plan_and_apply_stays_and_is_not_reported_deleted() {
    use crate::prune::{apply, plan as prune_plan, KeepReason, Policy, Rules};
    let s = Store::new();
    let (one, two) = (s.image("a", &["one"]), s.image("a", &["two"]));
    let long_ago = SystemTime::now() - 48 * HOUR;
    for tag in ["x", "y", "z"] {
        s.tag("a", tag, &one);
        set_mtime(&s.layout.tag_current_link("a", tag), long_ago);
    }
    let policy = Policy::all(Rules::new(Some(HOUR), None, vec![], None).unwrap());
    let p = prune_plan(&s.layout, &policy, &[], SystemTime::now()).unwrap();
    assert_eq!(p.delete_count(), 3);
    s.tag("a", "y", &two);
    let done = apply(&s.layout, &p).unwrap();
    let r = &done.repos[0];
    let deleted: Vec<&str> = r.delete.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(deleted, ["x", "z"]);
    assert_eq!(r.kept.len(), 1);
    assert_eq!(
        (r.kept[0].tag.as_str(), &r.kept[0].reason),
        ("y", &KeepReason::Changed)
    );
    assert!(s.layout.tag_current_link("a", "y").is_file());
    assert!(!s.layout.tag_current_link("a", "x").exists());
    assert_eq!(
        (p.skipped_repos, p.kept_count(), p.repos_touched()),
        (0, 0, 1)
    );
    assert_eq!((done.kept_count(), done.repos_touched()), (1, 1));
    assert_eq!(
        KeepReason::Changed.to_string(),
        "pushed again while pruning"
    );
    assert_eq!(crate::prune::PrunePlan::default().repos_touched(), 0);

    // A tag the registry could not have written, or a symlink, stops it.
    let refuses =
        |path: &Path, message: &str| match prune_plan(&s.layout, &policy, &[], SystemTime::now()) {
            Err(crate::prune::PruneError::Read(f)) => {
                assert_eq!(f.path, path, "{f}");
                assert!(f.message.contains(message), "{f}");
            }
            other => panic!("{}: expected a read fault, got {other:?}", path.display()),
        };
    let invalid = s.layout.tag_dir("a", "-x");
    fs::create_dir(&invalid).unwrap();
    refuses(&invalid, "invalid tag name");
    fs::remove_dir(&invalid).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let link = s.layout.tag_dir("a", "w");
    symlink(outside.path(), &link).unwrap();
    refuses(&link, "symbolic link inside the store");
}

#[test]
fn a_file_where_the_mark_walks_a_directory_aborts_the_plan() {
    // Listing it fails with ENOTDIR: only "not found" may mean "empty".
    let (s, _, _) = store();
    let tags = s.layout.tags("a");
    fs::rename(&tags, s.layout.repositories().join("moved")).unwrap();
    fs::write(&tags, "").unwrap();
    assert_plan_refuses(&s, options(true, None), &tags, "not a directory");
}

#[test]
fn a_tag_whose_current_link_cannot_be_stat_aborts_the_plan() {
    // `tags/<tag>/index` is just under PATH_MAX, `tags/<tag>/current` just
    // over: only "not found" may mean "no current link" (the tag's manifest
    // would lose its tag, and -m would delete it). Tags are read only with -m.
    let dir = tempfile::tempdir().unwrap();
    let layout = long_store(dir.path());
    let short = layout.tag_dir("a", "").as_os_str().len();
    let tag = "t".repeat(4088 - short);
    let tag_dir = layout.tag_dir("a", &tag);
    assert_eq!(tag_dir.join("index").as_os_str().len(), 4094);
    fs::create_dir(&tag_dir).unwrap();
    let current = layout.tag_current_link("a", &tag);
    match plan(&layout, options(true, None)) {
        Err(GcError::Mark(f)) => {
            assert_eq!(f.path, current.parent().unwrap(), "{f}");
            assert!(f.message.contains("file name too long"), "{f}");
        }
        other => panic!("expected a mark fault, got {other:?}"),
    }
}

#[test]
fn a_tag_without_current_link_and_an_index_child_outside_the_repository_are_fine() {
    let (s, tagged, _) = store();
    fs::create_dir_all(s.layout.tag_index("a", "bare")).unwrap();
    let elsewhere = Digest::sha256_of(b"a manifest of another repository");
    let index = s.index("a", &[&tagged, &elsewhere]);
    s.tag("a", "i", &index);
    let p = s.plan(true);
    assert_eq!(p.manifest_count(), 1, "the untagged image");
    assert!(p.faults.is_empty());
}

#[test]
fn referrers_go_with_m_and_stay_with_keep_referrers() {
    let s = Store::new();
    let tagged = s.image("r", &["tagged"]);
    s.tag("r", "v1", &tagged);
    let signature = s.referrer("r", &tagged, "signature");
    let countersignature = s.referrer("r", &signature, "countersignature");
    let untagged = s.image("r", &["untagged"]);
    let its_signature = s.referrer("r", &untagged, "its signature");
    let planned = |keep_referrers: bool| {
        let options = Options {
            keep_referrers,
            ..options(true, None)
        };
        let p = plan(&s.layout, options).unwrap();
        let mut doomed: Vec<Digest> = p.repos[0]
            .manifests
            .iter()
            .map(|m| m.digest.clone())
            .collect();
        doomed.sort();
        doomed
    };
    let mut all = vec![
        signature,
        countersignature,
        untagged.clone(),
        its_signature.clone(),
    ];
    all.sort();
    assert_eq!(planned(false), all);
    let mut unrelated = vec![untagged, its_signature];
    unrelated.sort();
    assert_eq!(planned(true), unrelated);
}

#[test]
fn an_alias_link_dangles_only_if_the_blob_it_names_is_gone() {
    let s = Store::new();
    let m = s.image("a", &["x"]);
    s.tag("a", "t", &m);
    let sha512 = |c: &str| Digest::parse(&format!("sha512:{}", c.repeat(128))).unwrap();
    let (to_nothing, to_live) = (sha512("1"), sha512("2"));
    s.link(
        s.layout.layer_link("a", &to_nothing),
        &Digest::sha256_of(b"never stored"),
    );
    s.link(s.layout.layer_link("a", &to_live), &m);
    let p = s.plan(false);
    assert_eq!(p.repos[0].layer_links, [to_nothing]);
    assert!(p.blobs.is_empty());
}
