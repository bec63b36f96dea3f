//! More S3 helpers for `tests/s3.rs` (kept apart from `s3.rs`, which another
//! change extends): registry-gc's other subcommands on an S3 config, the lock
//! object, key-set filters and moto's request log by key shape.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::support::s3::{KeyInfo, S3Server, KEY_PREFIX};

/// The lock object's key under the harness's `rootdirectory`.
pub const LOCK_KEY: &str = "registry/registry-gc.lock";

/// `registry-gc <subcommand> <flags> <config>` with `REGISTRY_*` and
/// `AWS_CA_BUNDLE` removed from the environment.
pub fn ours_sub_command(subcommand: &str, config: &Path, flags: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_registry-gc"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            c.env_remove(k);
        }
    }
    c.env_remove("AWS_CA_BUNDLE");
    c.env("XDG_CACHE_HOME", config.parent().unwrap_or(Path::new(".")));
    c.arg(subcommand).args(flags).arg(config);
    c.stdin(Stdio::null());
    c
}

/// stdout, stderr and exit code of `registry-gc <subcommand> <flags> <config>`.
pub fn run_ours_sub(subcommand: &str, config: &Path, flags: &[&str]) -> (String, String, i32) {
    crate::support::s3::run_captured(ours_sub_command(subcommand, config, flags))
}

/// A lock object as registry-gc writes it (`src/objstore/lock.rs`), held by
/// `host`/`pid` and expiring `expires_in` from now (in the past when negative).
pub fn lock_body(host: &str, pid: u32, expires_in_secs: i64) -> Vec<u8> {
    let now = SystemTime::now();
    let expires = if expires_in_secs >= 0 {
        now + Duration::from_secs(expires_in_secs as u64)
    } else {
        now - Duration::from_secs(expires_in_secs.unsigned_abs())
    };
    let started = now - Duration::from_secs(3600);
    serde_json::json!({
        "host": host,
        "pid": pid,
        "started": humantime::format_rfc3339_seconds(started).to_string(),
        "expires": humantime::format_rfc3339_seconds(expires).to_string(),
        "token": "11111111-2222-4333-8444-555555555555",
    })
    .to_string()
    .into_bytes()
}

/// `keys` without the lock object (a failed release may leave it).
pub fn without_lock(mut keys: BTreeMap<String, KeyInfo>) -> BTreeMap<String, KeyInfo> {
    keys.remove(LOCK_KEY);
    keys
}

/// The files a run deleted from a filesystem store, as the keys they are on S3.
pub fn as_keys(files: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    files
        .into_iter()
        .map(|f| format!("{KEY_PREFIX}{f}"))
        .collect()
}

/// moto's request log from entry `from` on, for `bucket`: `(method, key or
/// "" for bucket-level requests, query)`.
pub fn bucket_requests(s3: &S3Server, bucket: &str, from: usize) -> Vec<(String, String, String)> {
    let head = format!("/{bucket}");
    s3.requests()
        .into_iter()
        .skip(from)
        .filter_map(|(method, target)| {
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            let rest = path.strip_prefix(&head)?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            let key = rest.trim_start_matches('/').to_string();
            Some((method, key, query.to_string()))
        })
        .collect()
}
