//! The command line: flags, exit codes, configuration sources, stdout and
//! the stderr log lines.

mod support;

use std::collections::BTreeSet;
use std::process::Output;
use support::*;

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `msg` of each logfmt line on stderr.
fn messages(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.split_once(" msg=\"")?.1;
            Some(rest.split_once("\" ")?.0.to_string())
        })
        .collect()
}

#[test]
fn combined_short_flags_and_go_style_booleans() {
    let store = fixture_copy("demo");
    let before = store.files();
    let a = run_ours(&store, &["-dm"]);
    let b = run_ours(&store, &["--dry-run", "--delete-untagged"]);
    let c = run_ours(&store, &["-d=true", "-m"]);
    assert!(a.status.success(), "{}", err(&a));
    assert_eq!(out(&a), out(&b));
    assert_eq!(out(&a), out(&c));
    assert_eq!(store.files(), before);
    // `--dry-run=false` is a real run, as with upstream's pflag.
    let real = run_ours(&store, &["--dry-run=false"]);
    assert!(real.status.success());
    assert_ne!(store.files(), before);
}

#[test]
fn usage_errors_exit_2_and_run_nothing() {
    // Upstream prints the error and exits 0 without running: cron never notices.
    let store = fixture_copy("demo");
    let before = store.files();
    for args in [
        &["--foo"][..],
        &["-x"],
        &["--dry-run=maybe"],
        &["extra-arg"],
    ] {
        let o = run_ours(&store, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).starts_with("error: "), "{}", err(&o));
        assert!(err(&o).ends_with('\n'));
        assert!(out(&o).is_empty());
    }
    assert_eq!(store.files(), before);
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_registry-gc"))
        .args(["garbage-collect", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    for flag in [
        "-d, --dry-run",
        "-m, --delete-untagged",
        "-q, --quiet",
        "print what would be deleted; change nothing (takes no lock)",
        "no stdout and no progress line (log lines on stderr stay)",
    ] {
        assert!(out(&help).contains(flag), "{flag} missing from help");
    }
    // clap prints doc comments as they are: no markdown backticks.
    for sub in [
        "garbage-collect",
        "prune-tags",
        "purge-uploads",
        "inventory",
        "completions",
        "man",
        "help",
    ] {
        let help = rgc(&[sub, "--help"]);
        assert!(!out(&help).contains('`'), "{sub} --help: {}", out(&help));
    }
    assert!(!out(&rgc(&["--help"])).contains('`'));
}

/// `registry-gc <args>` with a clean environment.
fn rgc(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_registry-gc"))
        .env_clear()
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn boolean_flags_take_go_spellings_only() {
    // Go's strconv.ParseBool, as upstream's flags: anything else is a usage
    // error, never a guess (`--dry-run=no` used to be a real run).
    let store = fixture_copy("demo");
    let before = store.files();
    let dry = [("-d", "--dry-run"), ("--dry-run", "--dry-run")];
    let flags: [(&str, &[(&str, &str)]); 4] = [
        (
            "garbage-collect",
            &[
                dry[0],
                dry[1],
                ("-m", "--delete-untagged"),
                ("--delete-untagged", "--delete-untagged"),
                ("-q", "--quiet"),
                ("--quiet", "--quiet"),
                ("--keep-going", "--keep-going"),
                ("--keep-referrers", "--keep-referrers"),
            ],
        ),
        (
            "prune-tags",
            &[
                dry[0],
                dry[1],
                ("-v", "--verbose"),
                ("--verbose", "--verbose"),
            ],
        ),
        ("purge-uploads", &dry),
        ("inventory", &[("--tags", "--tags")]),
    ];
    let config = store.config.display().to_string();
    for (sub, names) in flags {
        for (name, long) in names {
            for bad in ["yes", "on", "no", "off", "y", "2", ""] {
                let arg = format!("{name}={bad}");
                let o = match sub {
                    "prune-tags" => rgc(&[sub, "--keep-last=1", &arg, &config]),
                    _ => rgc(&[sub, &arg, &config]),
                };
                assert_eq!(o.status.code(), Some(2), "{sub} {arg}: {}", err(&o));
                let want = format!("error: invalid value '{bad}' for '{long}[=<");
                assert!(err(&o).starts_with(&want), "{sub} {arg}: {}", err(&o));
                assert!(err(&o).contains(
                    "expected one of 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False"
                ));
            }
        }
    }
    assert_eq!(store.files(), before);
    for yes in ["1", "t", "T", "TRUE", "true", "True"] {
        let o = run_ours(&store, &[&format!("-d={yes}"), "-m"]);
        assert!(o.status.success(), "-d={yes}: {}", err(&o));
        assert_eq!(store.files(), before, "-d={yes} is a dry run");
    }
    for no in ["0", "f", "F", "FALSE", "false", "False"] {
        let store = fixture_copy("demo");
        let before = store.files();
        let o = run_ours(&store, &[&format!("--dry-run={no}")]);
        assert!(o.status.success(), "-d={no}: {}", err(&o));
        assert_ne!(store.files(), before, "--dry-run={no} is a real run");
    }
}

#[test]
fn configuration_errors_print_no_usage_block() {
    // Upstream prints its usage after a configuration error; only usage
    // errors (exit 2) get one here.
    let store = fixture_copy("demo");
    std::fs::write(&store.config, "version: 0.1\n").unwrap();
    let config = store.config.display().to_string();
    for sub in [
        "garbage-collect",
        "prune-tags",
        "purge-uploads",
        "inventory",
    ] {
        let o = rgc(&[sub, "--dry-run=true", &config]);
        let o = if sub == "inventory" {
            rgc(&[sub, &config])
        } else {
            o
        };
        let o = if sub == "prune-tags" {
            rgc(&[sub, "-d", "--keep-last", "1", &config])
        } else {
            o
        };
        assert_eq!(o.status.code(), Some(1), "{sub}: {}", err(&o));
        assert_eq!(
            err(&o),
            format!(
                "configuration error: error parsing {config}: no storage configuration provided\n"
            ),
            "{sub}"
        );
    }
    let o = rgc(&["garbage-collect", "--foo", &config]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("\nUsage: registry-gc garbage-collect"),
        "{}",
        err(&o)
    );
}

#[test]
fn config_path_from_environment_and_errors() {
    let store = fixture_copy("demo");
    let bin = env!("CARGO_BIN_EXE_registry-gc");
    let clean = || {
        let mut c = std::process::Command::new(bin);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        c
    };
    let o = clean().args(["garbage-collect", "-d"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).starts_with("configuration error: configuration path unspecified\n"),
        "{}",
        err(&o)
    );
    let o = clean()
        .args(["garbage-collect", "-d"])
        .env("REGISTRY_CONFIGURATION_PATH", &store.config)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(summary_counts(&out(&o)), (61, 3, 0));
    assert!(
        !err(&o).contains("level=warning"),
        "REGISTRY_CONFIGURATION_PATH is not warned about: {}",
        err(&o)
    );
    let o = clean()
        .args(["garbage-collect", "-d", "/nonexistent/config.yml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).starts_with(
        "configuration error: open /nonexistent/config.yml: no such file or directory\n"
    ));

    // Overrides: rootdirectory from the environment; unknown names warned.
    let elsewhere = empty_store();
    let o = clean()
        .args(["garbage-collect", "-d"])
        .arg(&elsewhere.config)
        .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", &store.root)
        .env("REGISTRY_PORT", "5000")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(summary_counts(&out(&o)), (61, 3, 0));
    assert!(
        err(&o).contains(
            "level=warning msg=\"Ignoring unrecognized environment variable REGISTRY_PORT\""
        ),
        "{}",
        err(&o)
    );
    // A second driver from the environment: upstream panics, we refuse.
    let o = clean()
        .args(["garbage-collect", "-d"])
        .arg(&store.config)
        .env("REGISTRY_STORAGE_S3_BUCKET", "b")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("must provide exactly one storage type. Provided: [filesystem s3]"),
        "{}",
        err(&o)
    );
}

#[test]
fn config_file_errors() {
    let store = fixture_copy("demo");
    let cases = [
        (
            "version: 0.1\nlog: {level: info}\n",
            "no storage configuration provided",
        ),
        (
            "{{{ this is: not: yaml ]]]",
            "yaml: did not find expected ',' or '}'",
        ),
        (
            "version: 0.2\nstorage: filesystem\n",
            "unsupported version: \"0.2\"",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&store.config, text).unwrap();
        let o = run_ours(&store, &["-d"]);
        assert_eq!(o.status.code(), Some(1));
        let prefix = format!(
            "configuration error: error parsing {}: {want}",
            store.config.display()
        );
        assert!(err(&o).starts_with(&prefix), "{}", err(&o));
    }
    std::fs::write(&store.config, "version: 0.1\nstorage: {gcs: {bucket: b}}\n").unwrap();
    let o = run_ours(&store, &["-d"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(err(&o), "failed to construct gcs driver: the gcs storage driver is not supported by registry-gc yet (only filesystem and s3 are)\n");
    // Unknown top-level keys are accepted silently.
    store.write_config("bogus: 1\n");
    assert!(run_ours(&store, &["-d"]).status.success());
}

/// An s3 section the registry refuses is refused with its words, before any
/// request (the endpoint is a closed port).
#[test]
fn s3_configuration_errors_match_the_registry() {
    let store = empty_store();
    let at = "regionendpoint: http://127.0.0.1:1, region: us-east-1";
    for (params, want) in [
        ("regionendpoint: http://127.0.0.1:1, bucket: b".to_string(), "no region parameter provided"),
        (at.to_string(), "no bucket parameter provided"),
        (format!("{at}, bucket: b, secure: maybe"), "the secure parameter should be a boolean"),
        (format!("{at}, bucket: b, skipverify: 2"), "the skipVerify parameter should be a boolean"),
        ("region: us-east-1, bucket: b, v4auth: false".to_string(), "on Amazon S3 this storage driver can only be used with v4 authentication"),
        (format!("{at}, bucket: b, chunksize: 100"), "the chunksize 100 parameter should be a number between 5242880 and 5368709120 (inclusive)"),
        (format!("{at}, bucket: b, objectacl: nope"), "invalid value for objectacl parameter: nope"),
    ] {
        let text = format!("version: 0.1\nstorage:\n  s3: {{{params}}}\n");
        std::fs::write(&store.config, &text).unwrap();
        let o = run_ours(&store, &["-d"]);
        let t = oracle_command(&store, &["-d"])
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .unwrap();
        let want = format!("failed to construct s3 driver: {want}");
        assert_eq!((o.status.code(), err(&o).trim_end()), (Some(1), want.as_str()), "{text}");
        assert_eq!((t.status.code(), err(&t).trim_end()), (Some(1), want.as_str()), "oracle: {text}");
    }
}

#[test]
fn keep_referrers_without_m_is_warned_about() {
    let store = fixture_copy("demo");
    let o = run_ours(&store, &["-d", "--keep-referrers"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("--keep-referrers does nothing without -m"),
        "{}",
        err(&o)
    );
    let o = run_ours(&store, &["-dm", "--keep-referrers"]);
    assert!(!err(&o).contains("does nothing"), "{}", err(&o));
}

/// `version: 1` (a number, not `0.1`): upstream panics, we refuse it.
#[test]
fn version_1_is_an_error_where_upstream_panics() {
    let store = fixture_copy("demo");
    let text = std::fs::read_to_string(&store.config).unwrap();
    std::fs::write(&store.config, text.replace("version: 0.1", "version: 1")).unwrap();
    let theirs = run_oracle(&store, &["-d"]);
    assert_eq!(theirs.status.code(), Some(2));
    assert!(err(&theirs).starts_with("panic: "), "{}", err(&theirs));
    let o = run_ours(&store, &["-d"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        err(&o),
        format!(
            "configuration error: error parsing {}: unsupported version: \"1\"\n",
            store.config.display()
        )
    );
}

#[test]
fn log_lines_match_upstream_messages() {
    let (ours, theirs) = (fixture_copy("demo"), fixture_copy("demo"));
    let (o, t) = (run_ours(&ours, &["-m"]), run_oracle(&theirs, &["-m"]));
    assert!(o.status.success());
    let ours_msgs: BTreeSet<String> = messages(&err(&o)).into_iter().collect();
    let theirs_msgs: BTreeSet<String> = messages(&err(&t)).into_iter().collect();
    // Same kinds of lines; ours never delete more than upstream except
    // layer links, and upstream's extra lines are the index children.
    for m in &ours_msgs {
        assert!(
            theirs_msgs.contains(m)
                || m.starts_with("Deleting layer link path: ")
                || m.starts_with("deleted ")
                || m.starts_with("freed ")
                || m.starts_with("manifests: "),
            "unexpected log line {m}"
        );
    }
    for line in err(&o).lines() {
        assert!(line.starts_with("time=\""), "{line}");
        assert!(
            line.contains(" go.version=registry-gc/") && line.contains(" instance.id="),
            "{line}"
        );
    }
    let last = err(&o).lines().last().unwrap().to_string();
    assert!(
        last.contains("level=warning msg=\"deleted 19 blobs: restart any registry serving this store with this configuration (storage.cache.blobdescriptor: inmemory), or it will keep answering for deleted blobs\""),
        "{last}"
    );
    // Without a blob descriptor cache in the configuration, no warning.
    let store = fixture_copy("demo");
    store.write_config(&format!(
        "storage:\n  filesystem:\n    rootdirectory: {}\n",
        store.root.display()
    ));
    let o = run_ours(&store, &["-m"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("Deleting blob: "));
    assert!(!err(&o).contains("level=warning"), "{}", err(&o));
}

#[test]
fn json_formatter_quiet_and_level() {
    let store = fixture_copy("demo");
    store.write_config("log:\n  formatter: json\n  fields:\n    service: registry\n");
    let o = run_ours(&store, &["-q"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).is_empty(), "-q silences stdout");
    let lines: Vec<serde_json::Value> = err(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 3);
    assert!(lines
        .iter()
        .all(|l| l["service"] == "registry" && l["level"].is_string() && l["time"].is_string()));
    assert!(lines.iter().any(|l| l["msg"]
        .as_str()
        .unwrap()
        .starts_with("Deleting blob: /docker/registry/v2/blobs/sha256/")));

    let store = fixture_copy("demo");
    store.write_config("log:\n  level: warn\n");
    let o = run_ours(&store, &[]);
    assert!(o.status.success());
    assert!(
        !err(&o).contains("Deleting blob"),
        "warn hides the deletion lines"
    );
    assert!(err(&o).contains("level=warning"));
}

#[test]
fn duplicate_keys_are_read_as_the_registry_reads_them() {
    let store = fixture_copy("demo");
    let root = store.root.display().to_string();
    // Accepted by docker-registry 2.8.2: the last value wins.
    let accepted = format!(
        "version: 0.2\nversion: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /nonexistent\n    rootdirectory: {root}\n"
    );
    std::fs::write(&store.config, &accepted).unwrap();
    let (o, t) = (run_ours(&store, &["-d"]), run_oracle(&store, &["-d"]));
    assert!(o.status.success(), "{}", err(&o));
    assert!(t.status.success(), "{}", err(&t));
    assert_eq!(summary_counts(&out(&o)), summary_counts(&out(&t)));
    let cfg = store.config.display();
    for (line, key) in [(2, "version"), (6, "storage.filesystem.rootdirectory")] {
        let want = format!("level=warning msg=\"{cfg}: line {line}: key {key} given twice; using the last value, as the registry does\"\n");
        assert!(err(&o).contains(&want), "{}", err(&o));
    }
    // Refused by docker-registry 2.8.2, which decodes the replaced value too.
    for (text, want) in [
        (
            format!("version: 0.1\nlog: {{level: verbose}}\nlog: {{level: info}}\nstorage: {{filesystem: {{rootdirectory: {root}}}}}\n"),
            "invalid loglevel verbose Must be one of [error, warn, info, debug]",
        ),
        (
            format!("version: 0.1\nlog: {{formatter: xml}}\nlog: {{level: info}}\nstorage: {{filesystem: {{rootdirectory: {root}}}}}\n"),
            "unable to configure logging with config: unsupported logging formatter: \"xml\"",
        ),
    ] {
        std::fs::write(&store.config, &text).unwrap();
        let (o, t) = (run_ours(&store, &["-d"]), run_oracle(&store, &["-d"]));
        assert_eq!(o.status.code(), Some(1), "{text}");
        assert!(err(&o).contains(want), "{}", err(&o));
        assert!(err(&t).contains(want), "oracle: {}", err(&t));
        assert!(out(&o).is_empty() && out(&t).is_empty());
    }
}

/// `registry-gc <sub> <args> <config>` run from `cwd`, clean environment.
fn rgc_in(cwd: &std::path::Path, sub: &str, args: &[&str], config: &std::path::Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_registry-gc"))
        .env_clear()
        .current_dir(cwd)
        .arg(sub)
        .args(args)
        .arg(config)
        .output()
        .unwrap()
}

const SUBCOMMANDS: [(&str, &[&str], &str); 4] = [
    ("garbage-collect", &["-m"], "failed to garbage collect"),
    ("prune-tags", &["--keep-last", "1"], "failed to prune tags"),
    ("purge-uploads", &[], "failed to purge uploads"),
    ("inventory", &[], "failed to take inventory"),
];

#[test]
fn the_rootdirectory_is_checked_before_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    // A relative root that does not exist: named, with where it was looked for.
    std::fs::write(
        &config,
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: data/registry\n",
    )
    .unwrap();
    for (sub, args, prefix) in SUBCOMMANDS {
        let o = rgc_in(dir.path(), sub, args, &config);
        assert_eq!(o.status.code(), Some(1), "{sub}: {}", err(&o));
        assert_eq!(
            err(&o),
            format!(
                "{prefix}: rootdirectory data/registry does not exist (relative to the working directory {})\n",
                dir.path().canonicalize().unwrap().display()
            )
        );
        assert!(!dir.path().join("data").exists(), "{sub} created nothing");
    }
    // A directory that is not a store: refused, and no lock file is left in it.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n",
            foreign.display()
        ),
    )
    .unwrap();
    for (sub, args, prefix) in SUBCOMMANDS {
        let o = rgc_in(dir.path(), sub, args, &config);
        assert_eq!(o.status.code(), Some(1), "{sub}: {}", err(&o));
        assert_eq!(
            err(&o),
            format!(
                "{prefix}: rootdirectory {} holds no registry store (no docker/registry/v2 in it)\n",
                foreign.display()
            )
        );
        assert_eq!(
            std::fs::read_dir(&foreign).unwrap().count(),
            0,
            "{sub} wrote in {}",
            foreign.display()
        );
    }
}

#[test]
fn a_store_nobody_pushed_to_is_empty_not_an_error() {
    // docker/registry/v2 without repositories/ (upstream: `Path not found`,
    // exit 1, so cron on a new registry fails).
    let store = empty_store();
    std::fs::create_dir_all(store.v2()).unwrap();
    for (sub, args, _) in SUBCOMMANDS {
        let o = rgc_in(store.dir.path(), sub, args, &store.config);
        assert!(o.status.success(), "{sub}: {}", err(&o));
        assert!(out(&o).is_empty(), "{sub}: {}", out(&o));
        let want = format!(
            "level=info msg=\"no repositories in this store yet, nothing to do (in {})\"",
            store.v2().canonicalize().unwrap().display()
        );
        assert!(err(&o).contains(&want), "{sub}: {}", err(&o));
        assert!(!store.root.join("registry-gc.lock").exists(), "{sub}");
    }
    let t = run_oracle(&store, &["-d"]);
    assert!(
        err(&t).contains("Path not found: /docker/registry/v2/repositories"),
        "{}",
        err(&t)
    );
    // With blobs but no repositories/ it is a damaged store: the run
    // fails as upstream's does, rather than sweep every blob.
    let store = fixture_copy("demo");
    std::fs::remove_dir_all(store.v2().join("repositories")).unwrap();
    let before = store.files();
    let o = run_ours(&store, &["-m"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(store.files(), before);
}

#[test]
fn an_unusable_report_path_fails_before_anything_is_deleted() {
    let store = fixture_copy("demo");
    let before = store.files();
    let missing_dir = store.dir.path().join("no/such/dir/report.json");
    let a_directory = store.dir.path().to_path_buf();
    for (path, why) in [
        (&missing_dir, "no such file or directory"),
        (&a_directory, "is a directory"),
    ] {
        let o = run_ours(&store, &["-m", "--report", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", err(&o));
        assert_eq!(
            err(&o),
            format!(
                "failed to garbage collect: failed to write report {}: {why}\n",
                path.display()
            )
        );
        assert!(out(&o).is_empty());
        assert_eq!(store.files(), before, "nothing deleted");
    }
    let leftovers: Vec<_> = std::fs::read_dir(store.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A usable path still gets the report of a real run.
    let good = store.dir.path().join("report.json");
    let o = run_ours(&store, &["-m", "--report", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    assert_eq!(doc["outcome"], "completed");
}

#[test]
fn duration_errors_name_the_flag_in_one_format() {
    let store = fixture_copy("demo");
    let o = run_ours(&store, &["--grace-period", "1x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).starts_with("error: invalid value '1x' for '--grace-period <DURATION>': not a duration (a number and a unit, such as 90m, 36h, 30d or 2w)\n"),
        "{}",
        err(&o)
    );
}

#[test]
fn one_unreadable_file_is_one() {
    let store = fixture_copy("demo");
    let link = store
        .repo("library/base")
        .join("_manifests/tags/latest/current/link");
    std::fs::write(&link, "garbage").unwrap();
    let o = run_ours(&store, &["-dm", "--keep-going"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).ends_with("failed to garbage collect: 1 unreadable file (listed above); everything it might reference was kept\n"),
        "{}",
        err(&o)
    );
}
