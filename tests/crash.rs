//! Crash safety: a real `-m` run killed (abort, as kill -9 would) after
//! every possible number of deletions leaves a store in which every tagged
//! image is whole, and a rerun finishes the job exactly as a clean run.

mod support;

use support::*;

/// What the registry needs to serve `repo`'s manifest `digest`: its
/// revision link and blob, and recursively its children (revision + blob)
/// or its config and layers (blob + `_layers` link).
fn manifest_intact(store: &Store, repo: &str, digest: &str, problems: &mut Vec<String>) {
    let hex = digest.trim_start_matches("sha256:");
    let revision = store
        .repo(repo)
        .join("_manifests/revisions/sha256")
        .join(hex)
        .join("link");
    if !revision.exists() || !store.blob_data(digest).exists() {
        problems.push(format!("{repo}@{digest}: manifest missing"));
        return;
    }
    let m = store.blob_json(digest);
    if let Some(children) = m["manifests"].as_array() {
        for c in children {
            manifest_intact(store, repo, c["digest"].as_str().unwrap(), problems);
        }
        return;
    }
    let mut blobs: Vec<&str> = m["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["digest"].as_str())
        .collect();
    blobs.extend(m["config"]["digest"].as_str());
    blobs.extend(
        m["fsLayers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["blobSum"].as_str()),
    );
    for b in blobs {
        let link = store
            .repo(repo)
            .join("_layers/sha256")
            .join(b.trim_start_matches("sha256:"))
            .join("link");
        if !store.blob_data(b).exists() || !link.exists() {
            problems.push(format!("{repo}@{digest}: blob {b} unreachable"));
        }
    }
}

fn broken_tags(store: &Store, tags: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for t in tags {
        let (repo, tag) = t.rsplit_once(':').unwrap();
        match store.tag_digest(repo, tag) {
            Some(d) => manifest_intact(store, repo, &d, &mut problems),
            None => problems.push(format!("{t}: tag gone")),
        }
    }
    problems
}

#[test]
fn kill_at_every_deletion_then_rerun() {
    let tags = fixture_tags("demo");
    let clean = fixture_copy("demo");
    assert!(run_ours(&clean, &["-m"]).status.success());
    let clean_files = clean.files();
    assert!(broken_tags(&clean, &tags).is_empty());

    let mut crashes = 0;
    for n in 1.. {
        let store = fixture_copy("demo");
        let out = ours_command(&store, &["-m"])
            .env("RGC_TEST_CRASH_AFTER", n.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            assert_eq!(
                store.files(),
                clean_files,
                "a run that did not crash equals the clean run"
            );
            break;
        }
        assert_eq!(
            out.status.code(),
            None,
            "crash point {n}: killed by a signal"
        );
        crashes += 1;
        let problems = broken_tags(&store, &tags);
        assert!(
            problems.is_empty(),
            "after a crash at deletion {n}: {problems:?}"
        );
        if n % 10 == 1 {
            // The structural check agrees with real pulls.
            let served = store.serve();
            let failed: Vec<_> = served
                .pull_all(&tags)
                .into_iter()
                .filter(|(_, r)| r.is_err())
                .collect();
            assert!(
                failed.is_empty(),
                "after a crash at deletion {n}: {failed:?}"
            );
        }
        let rerun = run_ours(&store, &["-m"]);
        assert!(
            rerun.status.success(),
            "rerun after crash {n}: {}",
            String::from_utf8_lossy(&rerun.stderr)
        );
        assert_eq!(
            store.files(),
            clean_files,
            "rerun after a crash at deletion {n} finishes the job"
        );
    }
    assert!(crashes > 40, "only {crashes} crash points");
}
