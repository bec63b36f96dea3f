//! Differential tests: the real upstream collector (docker-registry 2.8.2)
//! and registry-gc on copies of the same recorded store, in all four modes.
//! Equal results except the documented deliberate differences, which are
//! asserted explicitly.

mod support;

use std::collections::BTreeSet;
use support::*;

/// Digests (as `sha256:<hex>`) of the child manifests of every tagged index
/// in the demo store, and the configs and layers those children reference.
fn children_of_tagged_indexes(store: &Store) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut children = BTreeSet::new();
    let mut child_refs = BTreeSet::new();
    for (repo, tag) in [("multi/tool-docker", "1.0"), ("multi/tool-oci", "2.0")] {
        let index = store.blob_json(&store.tag_digest(repo, tag).unwrap());
        for child in index["manifests"].as_array().unwrap() {
            let d = child["digest"].as_str().unwrap().to_string();
            let m = store.blob_json(&d);
            child_refs.insert(m["config"]["digest"].as_str().unwrap().to_string());
            for l in m["layers"].as_array().unwrap() {
                child_refs.insert(l["digest"].as_str().unwrap().to_string());
            }
            children.insert(d);
        }
    }
    (children, child_refs)
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn assert_ok(o: &std::process::Output, who: &str) {
    assert!(
        o.status.success(),
        "{who} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Files present before and gone after.
/// Runs registry-gc with `args`; when `warm`, after a dry run that filled
/// the store's mark cache, and checks that the cache then answered every
/// manifest read (results must not depend on it).
fn run_cached(store: &Store, args: &[&str], warm: bool) -> std::process::Output {
    if warm {
        assert_ok(&run_ours(store, &["-d"]), "registry-gc (warming the cache)");
    }
    let o = run_ours(store, args);
    let log = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        log.contains(", 0 read;"),
        warm,
        "warm: {warm}, cache line in: {log}"
    );
    o
}

fn deleted(before: &BTreeSet<String>, after: &BTreeSet<String>) -> BTreeSet<String> {
    before.difference(after).cloned().collect()
}

/// `_layers` links in `files` whose blob is in `blob_files`' digests.
fn is_layer_link_of(path: &str, blob_hexes: &BTreeSet<String>) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    parts.ends_with(&["link"])
        && parts.len() > 3
        && parts[parts.len() - 4] == "_layers"
        && blob_hexes.contains(parts[parts.len() - 2])
}

fn blob_hexes(files: &BTreeSet<String>) -> BTreeSet<String> {
    files
        .iter()
        .filter(|f| f.contains("/blobs/") && f.ends_with("/data"))
        .map(|f| f.rsplit('/').nth(1).unwrap().to_string())
        .collect()
}

#[test]
fn dry_run_equals_upstream() {
    for warm in [false, true] {
        dry_run_equals_upstream_with(warm);
    }
}

fn dry_run_equals_upstream_with(warm: bool) {
    let (ours, theirs) = (fixture_copy("demo"), fixture_copy("demo"));
    let before = ours.files();
    let (o, t) = (
        run_cached(&ours, &["-d"], warm),
        run_oracle(&theirs, &["-d"]),
    );
    assert_ok(&o, "registry-gc");
    assert_ok(&t, "oracle");
    assert_eq!(summary_counts(&stdout(&o)), summary_counts(&stdout(&t)));
    assert_eq!(summary_counts(&stdout(&o)), (61, 3, 0));
    assert_eq!(eligible_blobs(&stdout(&o)), eligible_blobs(&stdout(&t)));
    assert_eq!(ours.files(), before, "a dry run changes nothing");
    // Output is deterministic: a second dry run prints the same bytes.
    assert_eq!(stdout(&run_ours(&ours, &["-d"])), stdout(&o));
}

#[test]
fn real_run_deletes_what_upstream_deletes_plus_dangling_layer_links() {
    for warm in [false, true] {
        real_run_deletes_what_upstream_deletes_plus_dangling_layer_links_with(warm);
    }
}

fn real_run_deletes_what_upstream_deletes_plus_dangling_layer_links_with(warm: bool) {
    let (ours, theirs) = (fixture_copy("demo"), fixture_copy("demo"));
    let before = ours.files();
    let (o, t) = (run_cached(&ours, &[], warm), run_oracle(&theirs, &[]));
    assert_ok(&o, "registry-gc");
    assert_ok(&t, "oracle");
    assert_eq!(summary_counts(&stdout(&o)), summary_counts(&stdout(&t)));
    let (ours_gone, theirs_gone) = (
        deleted(&before, &ours.files()),
        deleted(&before, &theirs.files()),
    );
    assert!(
        theirs_gone.is_subset(&ours_gone),
        "upstream deleted {theirs_gone:?}, we {ours_gone:?}"
    );
    // Deliberate difference: the `_layers` links of the swept blobs go too.
    let extra: Vec<&String> = ours_gone.difference(&theirs_gone).collect();
    let hexes = blob_hexes(&theirs_gone);
    assert!(!extra.is_empty());
    assert!(
        extra.iter().all(|f| is_layer_link_of(f, &hexes)),
        "unexpected extra deletions {extra:?}"
    );
    // Nothing left to do: a second run deletes nothing.
    let again = run_ours(&ours, &[]);
    assert_eq!(summary_counts(&stdout(&again)), (61, 0, 0));
    assert_eq!(deleted(&before, &ours.files()), ours_gone);
}

#[test]
fn dry_run_untagged_differs_only_by_keeping_index_children() {
    for warm in [false, true] {
        dry_run_untagged_differs_only_by_keeping_index_children_with(warm);
    }
}

fn dry_run_untagged_differs_only_by_keeping_index_children_with(warm: bool) {
    let (ours, theirs) = (fixture_copy("demo"), fixture_copy("demo"));
    let (o, t) = (
        run_cached(&ours, &["-d", "-m"], warm),
        run_oracle(&theirs, &["-d", "-m"]),
    );
    assert_ok(&o, "registry-gc");
    assert_ok(&t, "oracle");
    let (children, child_refs) = children_of_tagged_indexes(&ours);
    assert_eq!(summary_counts(&stdout(&t)), (34, 30, 12));
    let (om, ob, ok) = summary_counts(&stdout(&o));
    // Upstream 2.8.2 queues the 5 children of the two tagged indexes and
    // sweeps the configs and layers only they use; we keep them.
    let only_children: BTreeSet<String> = eligible_blobs(&stdout(&t))
        .difference(&eligible_blobs(&stdout(&o)))
        .cloned()
        .collect();
    assert!(eligible_blobs(&stdout(&o)).is_subset(&eligible_blobs(&stdout(&t))));
    assert!(only_children.is_subset(&child_refs), "{only_children:?}");
    assert_eq!(ok, 12 - children.len() as u64);
    assert_eq!(ob, 30 - only_children.len() as u64);
    assert_eq!(om, 34 + only_children.len() as u64);
    for c in &children {
        assert!(stdout(&t).contains(&format!("manifest eligible for deletion: {c}")));
        assert!(
            !stdout(&o).contains(&format!(" {c} [")),
            "child {c} must not be eligible"
        );
    }
}

#[test]
fn untagged_run_keeps_every_tag_pullable_where_upstream_breaks_multi_arch() {
    for warm in [false, true] {
        untagged_run_keeps_every_tag_pullable_where_upstream_breaks_multi_arch_with(warm);
    }
}

fn untagged_run_keeps_every_tag_pullable_where_upstream_breaks_multi_arch_with(warm: bool) {
    let (ours, theirs) = (fixture_copy("demo"), fixture_copy("demo"));
    let before = ours.files();
    let (o, t) = (
        run_cached(&ours, &["-m"], warm),
        run_oracle(&theirs, &["-m"]),
    );
    assert_ok(&o, "registry-gc");
    assert_ok(&t, "oracle");
    let (ours_gone, theirs_gone) = (
        deleted(&before, &ours.files()),
        deleted(&before, &theirs.files()),
    );
    let (children, child_refs) = children_of_tagged_indexes(&ours);
    // Everything we delete, upstream deletes too, except dangling layer links.
    let hexes = blob_hexes(&ours_gone);
    for f in ours_gone.difference(&theirs_gone) {
        assert!(
            is_layer_link_of(f, &hexes),
            "we deleted {f} which upstream kept"
        );
    }
    // Everything upstream deletes and we keep belongs to the index children.
    let keep_hexes: BTreeSet<String> = children
        .iter()
        .chain(&child_refs)
        .map(|d| d.trim_start_matches("sha256:").to_string())
        .collect();
    for f in theirs_gone.difference(&ours_gone) {
        assert!(
            keep_hexes.iter().any(|h| f.contains(h.as_str())),
            "upstream deleted {f}, we kept it"
        );
    }
    let tags = fixture_tags("demo");
    let served = ours.serve();
    let failed: Vec<_> = served
        .pull_all(&tags)
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .collect();
    assert!(
        failed.is_empty(),
        "tags broken by registry-gc -m: {failed:?}"
    );
    drop(served);
    let served = theirs.serve();
    let broken: BTreeSet<String> = served
        .pull_all(&tags)
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .map(|(t, _)| t)
        .collect();
    let expected: BTreeSet<String> = ["multi/tool-docker:1.0", "multi/tool-oci:2.0"]
        .map(String::from)
        .into();
    assert_eq!(
        broken, expected,
        "upstream 2.8.2's -m is known to break exactly the multi-arch tags"
    );
}
