//! `registry-gc purge-uploads` on copies of the recorded demo store, with
//! uploads of several ages (from `startedat`, or the mtime when it is missing).

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};
use support::{fixture_copy, Store};

const HOUR: Duration = Duration::from_secs(3600);

fn purge(store: &Store, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_registry-gc"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            c.env_remove(k);
        }
    }
    c.arg("purge-uploads")
        .args(args)
        .arg(&store.config)
        .stdin(Stdio::null());
    c.output().expect("run registry-gc")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

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

/// Creates `repo/_uploads/<uuid>/` with a `data` file of `size` bytes and a
/// `startedat` (as the registry writes it) unless `started` is `None`.
fn upload(store: &Store, repo: &str, uuid: &str, size: usize, started: Option<&str>) -> PathBuf {
    let dir = store.repo(repo).join("_uploads").join(uuid);
    fs::create_dir_all(dir.join("hashstates/sha256")).unwrap();
    fs::write(dir.join("data"), vec![b'x'; size]).unwrap();
    if let Some(s) = started {
        fs::write(dir.join("startedat"), s).unwrap();
    }
    dir
}

fn rfc3339(ago: Duration) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() - ago).to_string()
}

fn set_mtime(path: &Path, ago: Duration) {
    fs::File::open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - ago))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

/// The `<repo> <uuid>` of each listed upload, sorted.
fn listed(stdout: &str) -> Vec<String> {
    let mut v: Vec<String> = stdout
        .lines()
        .filter_map(|l| {
            let (repo, rest) = l.split_once(": upload ")?;
            Some(format!("{repo} {}", rest.split(' ').next()?))
        })
        .collect();
    v.sort();
    v
}

/// The demo store with its recorded upload (team/app, started now) and:
/// old (200h, startedat), young (1h), offset (10 days, `+02:00` offset),
/// no-startedat-old (mtime 300h), no-startedat-young (mtime now), in nested
/// and plain repositories.
fn store_with_uploads() -> Store {
    let store = fixture_copy("demo");
    let recorded = fs::read_dir(store.repo("team/app/_uploads"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::write(recorded.join("startedat"), rfc3339(HOUR * 2)).unwrap();
    upload(
        &store,
        "team/app/api",
        "old",
        1000,
        Some(&rfc3339(HOUR * 200)),
    );
    upload(&store, "oci/image", "young", 10, Some(&rfc3339(HOUR)));
    let t = humantime::format_rfc3339_seconds(SystemTime::now() - HOUR * 240 + HOUR * 2)
        .to_string()
        .replace('Z', "+02:00");
    upload(&store, "library/base", "offset", 20, Some(&t));
    let no_started = upload(&store, "library/base", "mtime-old", 300, None);
    set_mtime(&no_started.join("data"), HOUR * 300);
    set_mtime(&no_started, HOUR * 300);
    upload(&store, "library/base", "mtime-young", 5, None);
    store
}

#[test]
fn purges_uploads_older_than_a_week_by_default() {
    let store = store_with_uploads();
    let before = store.files();
    let dry = ok(purge(&store, &["-d"]));
    assert_eq!(store.files(), before, "a dry run changes nothing");
    let want = [
        "library/base mtime-old",
        "library/base offset",
        "team/app/api old",
    ];
    assert_eq!(listed(&dry), want);
    assert!(
        dry.contains("team/app/api: upload old eligible for deletion, started 8d8h ago, "),
        "{dry}"
    );
    assert!(
        dry.contains("library/base: upload mtime-old eligible for deletion, no startedat, last written 12d12h ago, 300 B\n"),
        "{dry}"
    );
    // Bytes: data plus startedat (20 characters), in human units.
    assert_eq!(1000 + 20 + 20 + 25 + 300, 1365);
    assert!(
        dry.ends_with("\n3 uploads eligible for deletion (1.3 KiB), 3 younger kept\n"),
        "{dry}"
    );

    let real = ok(purge(&store, &[]));
    assert_eq!(dry.replace("eligible for deletion", "deleted"), real);
    let gone: BTreeSet<String> = before.difference(&store.files()).cloned().collect();
    assert!(gone.iter().all(|f| want.iter().any(|w| {
        let (repo, uuid) = w.split_once(' ').unwrap();
        f.starts_with(&format!(
            "docker/registry/v2/repositories/{repo}/_uploads/{uuid}/"
        ))
    })));
    assert_eq!(gone.len(), 5, "{gone:?}");
    for w in want {
        let (repo, uuid) = w.split_once(' ').unwrap();
        assert!(!store.repo(repo).join("_uploads").join(uuid).exists());
        assert!(store.repo(repo).join("_uploads").is_dir(), "_uploads stays");
    }
    assert!(store.repo("oci/image/_uploads/young/data").is_file());
    assert!(store
        .repo("library/base/_uploads/mtime-young/data")
        .is_file());
    // A second run finds nothing more.
    let again = ok(purge(&store, &[]));
    assert_eq!(again, "0 uploads deleted (0 B), 3 younger kept\n");
}

#[test]
fn older_than_sets_the_age_and_deletions_are_logged() {
    let store = store_with_uploads();
    let recorded = fs::read_dir(store.repo("team/app/_uploads"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let recorded = format!("team/app {}", recorded.to_str().unwrap());
    let out = purge(&store, &["--older-than", "90m"]);
    let log = text(&out.stderr);
    let stdout = ok(out);
    let mut want = vec![
        "library/base mtime-old".to_string(),
        "library/base offset".into(),
        "team/app/api old".into(),
        recorded,
    ];
    want.sort();
    assert_eq!(listed(&stdout), want);
    assert!(
        log.contains(
            r#"msg="deleting upload: /docker/registry/v2/repositories/team/app/api/_uploads/old""#
        ),
        "{log}"
    );
    // Nothing left but the two young ones.
    let out = ok(purge(&store, &["-d", "--older-than", "0s"]));
    assert_eq!(
        listed(&out),
        ["library/base mtime-young", "oci/image young"]
    );
}

#[test]
fn bad_input_fails_closed() {
    let store = store_with_uploads();
    // A bad duration is a usage error.
    let out = purge(&store, &["--older-than", "a while"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: invalid value 'a while' for '--older-than <DURATION>': not a duration (a number and a unit, such as 90m, 36h, 30d or 2w)\n"), "{}", text(&out.stderr));
    // A symlink inside an upload is refused before anything is deleted.
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("precious"), "x").unwrap();
    let link = store.repo("oci/image/_uploads/young/hashstates/elsewhere");
    std::os::unix::fs::symlink(outside.path(), &link).unwrap();
    let before = store.files();
    let out = purge(&store, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("failed to purge uploads: symbolic link inside the store"),
        "{err}"
    );
    assert!(err.ends_with(")\n") && err.contains("elsewhere"), "{err}");
    assert_eq!(store.files(), before);
    assert!(outside.path().join("precious").exists());
}
