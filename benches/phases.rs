//! Criterion benches of the collector's phases on generated stores.
//!
//! ```text
//! cargo bench --bench phases                          # ~10k and ~100k files
//! RGC_BENCH_SIZES=10k cargo bench --bench phases      # one size (10k, 100k or 1m)
//! ```
//!
//! Stores are written once by `examples/synth-store.rs` (run through cargo) into
//! `target/bench-stores/<size>/` and reused while their `expected.json` exists; they are
//! the same stores `benches/compare.sh` uses. The sweep is timed on a hard-linked copy
//! (`target/bench-stores/<size>.sweep-copy`, made once with `cp -al` and kept): before each
//! iteration, what the previous one deleted is hard-linked back from the store (not timed).
//! The sweep only unlinks files and removes directories, so a hard-linked copy behaves as
//! a full one and the store itself is never touched. `rm -rf target/bench-stores` removes
//! stores and copies.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode};
use registry_gc::layout::Layout;
use registry_gc::{blobs, discover, mark, plan, sweep};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Store sizes: name, repositories, manifests per repository.
const SIZES: [(&str, &str, &str); 3] = [
    ("10k", "12", "64"),
    ("100k", "47", "162"),
    ("1m", "470", "162"),
];

fn stores_dir() -> PathBuf {
    std::env::var_os("RGC_BENCH_STORES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-stores"))
}

/// The store of one size, generated on first use.
fn store(name: &str, repos: &str, manifests: &str) -> PathBuf {
    let root = stores_dir().join(name);
    if root.join("expected.json").exists() {
        return root;
    }
    if root.exists() {
        std::fs::remove_dir_all(&root).expect("remove a half-written store");
    }
    std::fs::create_dir_all(stores_dir()).expect("create target/bench-stores");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--quiet",
            "--release",
            "--example",
            "synth-store",
            "--",
        ])
        .arg(&root)
        .args(["--repos", repos, "--manifests", manifests, "--seed", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("run cargo run --example synth-store");
    assert!(status.success(), "synth-store failed for {name}");
    root
}

/// A hard-linked copy of a store (`<size>.sweep-copy`, made once with `cp -al` and kept
/// for later runs), put back into the store's state before each sweep.
fn sweep_copy(root: &Path) -> PathBuf {
    let dest = root.with_file_name(format!(
        "{}.sweep-copy",
        root.file_name().unwrap().to_string_lossy()
    ));
    let done = dest.join(".copied");
    if done.exists() {
        return dest;
    }
    if dest.exists() {
        std::fs::remove_dir_all(&dest).expect("remove a half-made copy");
    }
    let status = Command::new("cp")
        .arg("-al")
        .arg(root)
        .arg(&dest)
        .status()
        .expect("run cp -al");
    assert!(status.success(), "cp -al {} failed", root.display());
    std::fs::write(&done, "").unwrap();
    dest
}

/// Hard-links back into `copy` whatever a sweep of `the_plan` deleted from it.
fn restore(store: &Layout, copy: &Layout, the_plan: &plan::Plan) {
    let mut dirs = Vec::new();
    for b in &the_plan.blobs {
        dirs.push(store.blob_dir(&b.digest));
    }
    for r in &the_plan.repos {
        for m in &r.manifests {
            dirs.push(store.revision_dir(&r.name, &m.digest));
            for tag in &m.tag_index {
                dirs.push(store.tag_index_entry(&r.name, tag, &m.digest));
            }
        }
        for d in &r.layer_links {
            dirs.push(store.layer_link(&r.name, d).parent().unwrap().to_path_buf());
        }
    }
    for dir in dirs {
        let rel = dir.strip_prefix(store.root()).unwrap();
        relink(&dir, &copy.root().join(rel));
    }
}

/// Mirrors `src` into `dst` with hard links, keeping what is already there.
fn relink(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            relink(&entry.path(), &to);
        } else if let Err(e) = std::fs::hard_link(entry.path(), &to) {
            assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}");
        }
    }
}

fn phases(c: &mut Criterion) {
    let wanted = std::env::var("RGC_BENCH_SIZES").unwrap_or_else(|_| "10k,100k".into());
    for (name, repos, manifests) in SIZES {
        if !wanted.split(',').any(|w| w.trim() == name) {
            continue;
        }
        let root = store(name, repos, manifests);
        let layout = Layout::new(&root);
        let mut g = c.benchmark_group(name);
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));

        g.bench_function("discover", |b| {
            b.iter(|| discover::discover(&layout).unwrap())
        });
        g.bench_function("enumerate_blobs", |b| {
            b.iter(|| blobs::enumerate(&layout).unwrap())
        });
        let repos: Vec<String> = discover::discover(&layout)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        let present = blobs::enumerate(&layout).unwrap();
        for (label, delete_untagged) in [("mark", false), ("mark_untagged", true)] {
            g.bench_function(label, |b| {
                b.iter(|| mark::mark_all(&layout, &repos, &present, delete_untagged).unwrap())
            });
        }
        for (label, delete_untagged) in [("plan", false), ("plan_untagged", true)] {
            let options = plan::Options {
                delete_untagged,
                ..plan::Options::default()
            };
            g.bench_function(label, |b| b.iter(|| plan::plan(&layout, options).unwrap()));
        }
        // One iteration per sample: each needs its own copy of the store.
        g.warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_millis(1));
        for (label, delete_untagged) in [("sweep", false), ("sweep_untagged", true)] {
            let options = plan::Options {
                delete_untagged,
                ..plan::Options::default()
            };
            // The plan names digests and repositories, not paths: the one made on the
            // store applies to any copy of it.
            let the_plan = plan::plan(&layout, options).unwrap();
            let copy = Layout::new(&sweep_copy(&root));
            g.bench_function(label, |b| {
                b.iter_batched(
                    || restore(&layout, &copy, &the_plan),
                    |()| sweep::apply(&copy, &the_plan).1.unwrap(),
                    BatchSize::PerIteration,
                )
            });
            restore(&layout, &copy, &the_plan);
        }
        g.finish();
    }
}

criterion_group!(benches, phases);
criterion_main!(benches);
