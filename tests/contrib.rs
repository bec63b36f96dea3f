//! `contrib/systemd`: `systemd-analyze verify` accepts the units, and the
//! registry-gc command lines of the service run on a copy of the demo store.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use support::*;

const INSTALLED: &str = "/usr/local/bin/registry-gc";

fn unit(name: &str) -> String {
    fs::read_to_string(project_root().join("contrib/systemd").join(name)).unwrap()
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let dir = tempfile::tempdir().unwrap();
    // verify wants every ExecStart binary to exist: point it at the one built.
    let service = unit("registry-gc.service").replace(INSTALLED, env!("CARGO_BIN_EXE_registry-gc"));
    fs::write(dir.path().join("registry-gc.service"), service).unwrap();
    fs::write(
        dir.path().join("registry-gc.timer"),
        unit("registry-gc.timer"),
    )
    .unwrap();
    let o = Command::new("systemd-analyze")
        .args([
            "verify",
            "--man=no",
            "registry-gc.service",
            "registry-gc.timer",
        ])
        .current_dir(dir.path())
        .output()
        .expect("run systemd-analyze");
    // Unknown keys and bad values are only warnings: any output is a failure.
    assert!(
        o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let timer = unit("registry-gc.timer");
    for line in ["Persistent=true", "RandomizedDelaySec=", "OnCalendar="] {
        assert!(timer.contains(line), "{line}");
    }
}

/// The service's `registry-gc` lines, `${CONFIG}`, `${METRICS}` and
/// `${CACHE_DIRECTORY}` (systemd's, for `CacheDirectory=`) expanded.
fn commands(config: &Path, metrics: &Path, policy: &Path, cache: &Path) -> Vec<Vec<String>> {
    let service = unit("registry-gc.service");
    let env = |key: &str| {
        service
            .lines()
            .find_map(|l| l.strip_prefix(&format!("Environment={key}=")))
            .unwrap()
            .to_string()
    };
    let (cfg, met) = (env("CONFIG"), env("METRICS"));
    service
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("ExecStart={INSTALLED} ")))
        .map(|l| {
            l.replace("${CONFIG}", config.to_str().unwrap())
                .replace("${METRICS}", metrics.to_str().unwrap())
                .replace("${CACHE_DIRECTORY}", cache.to_str().unwrap())
                .replace("/etc/docker/registry/prune.yml", policy.to_str().unwrap())
                .split(' ')
                .map(str::to_string)
                .inspect(|w| assert!(!w.contains(&cfg) && !w.contains(&met), "{w}"))
                .collect()
        })
        .collect()
}

#[test]
fn the_service_commands_run_on_the_demo_store() {
    let store = fixture_copy("demo");
    let metrics = store.dir.path().join("textfile");
    fs::create_dir(&metrics).unwrap();
    let policy = store.dir.path().join("prune.yml");
    fs::write(&policy, "rules:\n  - repo: '**'\n    keep_last: 1\n").unwrap();
    let cache = store.dir.path().join("cache");
    let commands = commands(&store.config, &metrics, &policy, &cache);
    let names: Vec<&str> = commands.iter().map(|c| c[0].as_str()).collect();
    assert_eq!(names, ["prune-tags", "garbage-collect", "purge-uploads"]);
    for args in &commands {
        let o = Command::new(env!("CARGO_BIN_EXE_registry-gc"))
            .args(args)
            .env_remove("REGISTRY_CONFIGURATION_PATH")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let cached: Vec<_> = fs::read_dir(&cache).unwrap().collect();
    assert_eq!(cached.len(), 1, "the mark cache is kept in CacheDirectory=");
    let mut written: Vec<String> = fs::read_dir(&metrics)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "registry-gc-garbage-collect.prom",
            "registry-gc-prune-tags.prom",
            "registry-gc-purge-uploads.prom"
        ]
    );
    // node_exporter reads each file and merges the families: each must pass
    // promtool, and a family in several files must have one HELP text.
    let mut help = std::collections::BTreeMap::new();
    for f in &written {
        let path = metrics.join(f);
        let o = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(fs::File::open(&path).unwrap())
            .output()
            .expect("run promtool");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{f}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        for line in fs::read_to_string(&path).unwrap().lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, text) = rest.split_once(' ').unwrap();
                let first = help
                    .entry(name.to_string())
                    .or_insert_with(|| text.to_string());
                assert_eq!(first, text, "{name}");
            }
        }
    }
    let prune = fs::read_to_string(metrics.join("registry-gc-prune-tags.prom")).unwrap();
    assert!(
        prune.contains("registry_gc_last_run_tags_deleted{command=\"prune-tags\"} 7\n"),
        "{prune}"
    );
}
