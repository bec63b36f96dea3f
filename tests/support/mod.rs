//! Test support for registry-gc integration tests: recorded fixture stores, the
//! upstream oracle (`docker-registry garbage-collect`, distribution 2.8.2), a real
//! `docker-registry serve` to pull images from, and parsers for upstream output.
//!
//! Use from `tests/*.rs` with `mod support;`. Fixtures live in `fixtures/<name>/`
//! (see `fixtures/record.sh` and `fixtures/demo/README.md`).
//!
//! The oracle and the registry are required: helpers that need them **panic**
//! (tests fail, never skip) when `docker-registry` or `skopeo` is missing.
#![allow(dead_code)]

pub mod oci;
pub mod s3;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Message used whenever the oracle tools are missing.
pub const MISSING_ORACLE: &str =
    "docker-registry not installed: run `bash .ci/run` or `apt-get install -y docker-registry skopeo`";

/// The four recorded oracle modes and their flags: `dry` = `-d`, `dry-m` = `-d -m`,
/// `real` = no flag, `real-m` = `-m`.
pub const MODES: [(&str, &[&str]); 4] = [
    ("dry", &["-d"]),
    ("dry-m", &["-d", "-m"]),
    ("real", &[]),
    ("real-m", &["-m"]),
];

/// The crate root (where `Cargo.toml` and `fixtures/` are).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `fixtures/<name>`.
pub fn fixture_dir(name: &str) -> PathBuf {
    project_root().join("fixtures").join(name)
}

/// A private, writable copy of a store. Dropping it removes the temp dir.
pub struct Store {
    /// The temp dir holding `store/` (the root) and `config.yml`.
    pub dir: TempDir,
    /// The registry `rootdirectory` (contains `docker/registry/v2/`).
    pub root: PathBuf,
    /// `config.yml` with an absolute `rootdirectory` (see [`Store::write_config`]).
    pub config: PathBuf,
}

/// Copies `fixtures/<name>/store` into a fresh temp dir (`cp -a`), recreates the
/// directories listed in `fixtures/<name>/EMPTY_DIRS` (git drops empty dirs) and
/// writes `config.yml` (log level info, filesystem driver with an absolute
/// rootdirectory, `delete.enabled: true`, `cache.blobdescriptor: inmemory`).
pub fn fixture_copy(name: &str) -> Store {
    let src = fixture_dir(name).join("store");
    assert!(
        src.is_dir(),
        "fixture store {} does not exist",
        src.display()
    );
    let dir = tempfile::Builder::new()
        .prefix(&format!("rgc-{name}-"))
        .tempdir()
        .expect("create temp dir");
    let root = dir.path().join("store");
    let st = Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&root)
        .status()
        .expect("run cp -a");
    assert!(
        st.success(),
        "cp -a {} {} failed",
        src.display(),
        root.display()
    );
    let empty = fixture_dir(name).join("EMPTY_DIRS");
    if let Ok(text) = fs::read_to_string(&empty) {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            fs::create_dir_all(root.join(line)).expect("recreate empty dir");
        }
    }
    let config = dir.path().join("config.yml");
    let store = Store { dir, root, config };
    store.write_config("");
    store
}

/// An empty store (only the temp dir, `root` not created) with a config; useful for
/// building stores by hand.
pub fn empty_store() -> Store {
    let dir = tempfile::Builder::new()
        .prefix("rgc-empty-")
        .tempdir()
        .expect("create temp dir");
    let root = dir.path().join("store");
    let config = dir.path().join("config.yml");
    let store = Store { dir, root, config };
    store.write_config("");
    store
}

/// A copy of `store` (its root, `cp -a`, and a config pointing at the copy).
pub fn store_copy(store: &Store) -> Store {
    let other = empty_store();
    let st = Command::new("cp")
        .arg("-a")
        .arg(&store.root)
        .arg(&other.root)
        .status()
        .expect("run cp -a");
    assert!(st.success(), "cp -a {} failed", store.root.display());
    other
}

impl Store {
    /// `root/docker/registry/v2`.
    pub fn v2(&self) -> PathBuf {
        self.root.join("docker/registry/v2")
    }

    /// `v2/repositories/<name>`.
    pub fn repo(&self, name: &str) -> PathBuf {
        self.v2().join("repositories").join(name)
    }

    /// `v2/blobs/sha256/<hh>/<hex>/data` for a `sha256:<hex>` digest.
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').expect("digest alg:hex");
        self.v2()
            .join("blobs")
            .join(alg)
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Parses a blob (typically a manifest) as JSON.
    pub fn blob_json(&self, digest: &str) -> serde_json::Value {
        let p = self.blob_data(digest);
        let b = fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        serde_json::from_slice(&b).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()))
    }

    /// The digest in `<repo>/_manifests/tags/<tag>/current/link`, if present.
    pub fn tag_digest(&self, repo: &str, tag: &str) -> Option<String> {
        fs::read_to_string(
            self.repo(repo)
                .join("_manifests/tags")
                .join(tag)
                .join("current/link"),
        )
        .ok()
    }

    /// All regular files (and symlinks) under `root`, relative to it, `/`-separated, sorted.
    /// (registry-gc's own `registry-gc.lock` in the root is left out.)
    pub fn files(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        walk(&self.root, &self.root, &mut |rel, is_dir, _empty| {
            if !is_dir && rel != "registry-gc.lock" {
                out.insert(rel.to_string());
            }
        });
        out
    }

    /// All empty directories under `root`, relative to it, sorted.
    pub fn empty_dirs(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        walk(&self.root, &self.root, &mut |rel, is_dir, empty| {
            if is_dir && empty {
                out.insert(rel.to_string());
            }
        });
        out
    }

    /// Rewrites `config.yml`: the default sections (`version: 0.1`, `log: {level: info}`,
    /// `storage:` filesystem with absolute rootdirectory, `delete.enabled: true`,
    /// `cache.blobdescriptor: inmemory`) followed by `extra_yaml` (top-level keys).
    /// A default section whose top-level key also appears in `extra_yaml` is left out,
    /// so `extra_yaml` may replace `log:` or `storage:` entirely.
    pub fn write_config(&self, extra_yaml: &str) {
        let extra_keys: BTreeSet<&str> = extra_yaml
            .lines()
            .filter(|l| !l.starts_with([' ', '\t', '#', '-']) && l.contains(':'))
            .map(|l| l.split(':').next().unwrap().trim())
            .collect();
        let mut y = String::new();
        if !extra_keys.contains("version") {
            y.push_str("version: 0.1\n");
        }
        if !extra_keys.contains("log") {
            y.push_str("log:\n  level: info\n");
        }
        if !extra_keys.contains("storage") {
            y.push_str(&format!(
                "storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\n",
                self.root.display()
            ));
        }
        y.push_str(extra_yaml);
        if !y.ends_with('\n') {
            y.push('\n');
        }
        fs::write(&self.config, y).expect("write config.yml");
    }

    /// Starts `docker-registry serve` on this store (see [`Served::start`]).
    pub fn serve(&self) -> Served {
        Served::start(&self.root)
    }
}

/// Calls `f(relative_path, is_dir, is_empty_dir)` for everything below `dir`.
fn walk(base: &Path, dir: &Path, f: &mut dyn FnMut(&str, bool, bool)) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.expect("read_dir entry");
        let p = e.path();
        let rel = p
            .strip_prefix(base)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let ft = e.file_type().expect("file type");
        if ft.is_dir() {
            let empty = fs::read_dir(&p)
                .map(|mut r| r.next().is_none())
                .unwrap_or(false);
            f(&rel, true, empty);
            walk(base, &p, f);
        } else {
            f(&rel, false, false);
        }
    }
}

/// The tags recorded in `fixtures/<name>/TAGS` (`repo:tag`, one a line): every tag
/// that pulls from the fixture store as recorded.
pub fn fixture_tags(name: &str) -> Vec<String> {
    let p = fixture_dir(name).join("TAGS");
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn find_in_path(cmd: &str) -> Option<PathBuf> {
    if cmd.contains('/') {
        return Path::new(cmd).is_file().then(|| PathBuf::from(cmd));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(cmd))
            .find(|p| p.is_file())
    })
}

/// The oracle binary: `$DOCKER_REGISTRY_BIN` if set, else `docker-registry` from PATH.
pub fn oracle_bin() -> String {
    std::env::var("DOCKER_REGISTRY_BIN").unwrap_or_else(|_| "docker-registry".to_string())
}

/// Whether the oracle (`docker-registry`) is installed. Tests should not skip on
/// `false`: [`run_oracle`] and [`Served::start`] panic instead.
pub fn oracle_available() -> bool {
    find_in_path(&oracle_bin()).is_some()
}

fn require(cmd: &str) {
    if find_in_path(cmd).is_none() {
        panic!("{MISSING_ORACLE} (`{cmd}` not found in PATH)");
    }
}

/// `docker-registry garbage-collect <args> <store.config>`, with every `REGISTRY_*`
/// variable removed from the environment (upstream applies them as config
/// overrides). Add `.env(...)` to test those. Panics if the oracle is missing.
pub fn oracle_command(store: &Store, args: &[&str]) -> Command {
    let bin = oracle_bin();
    require(&bin);
    let mut c = Command::new(bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            c.env_remove(k);
        }
    }
    c.arg("garbage-collect").args(args).arg(&store.config);
    c.stdin(Stdio::null());
    c
}

/// Runs the oracle on `store` (see [`oracle_command`]) and returns its output.
pub fn run_oracle(store: &Store, args: &[&str]) -> Output {
    oracle_command(store, args)
        .output()
        .expect("run docker-registry garbage-collect")
}

/// `registry-gc garbage-collect <args> <store.config>`, with every `REGISTRY_*`
/// variable removed from the environment and the mark cache in the store's
/// temp dir (`<dir>/registry-gc/`), so it goes with the store.
pub fn ours_command(store: &Store, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_registry-gc"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            c.env_remove(k);
        }
    }
    c.env("XDG_CACHE_HOME", store.dir.path());
    c.arg("garbage-collect").args(args).arg(&store.config);
    c.stdin(Stdio::null());
    c
}

/// Runs registry-gc on `store` (see [`ours_command`]) and returns its output.
pub fn run_ours(store: &Store, args: &[&str]) -> Output {
    ours_command(store, args)
        .output()
        .expect("run registry-gc garbage-collect")
}

/// What `fixtures/oracle.sh` recorded for one mode.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub stdout: String,
    pub stderr: String,
    pub exit: i32,
    /// Files (relative to the store root) removed by a real run; `None` for dry runs.
    pub deleted: Option<BTreeSet<String>>,
    /// `repo:tag` -> pulled OK after a real run (`fixtures/<name>/oracle/<mode>/pull`).
    pub pulls: Option<Vec<(String, bool)>>,
}

/// Reads `fixtures/<name>/oracle/<mode>/` (`mode`: `dry`, `dry-m`, `real`, `real-m`).
pub fn recorded_oracle(name: &str, mode: &str) -> Recorded {
    let d = fixture_dir(name).join("oracle").join(mode);
    let read = |f: &str| fs::read_to_string(d.join(f));
    let must = |f: &str| read(f).unwrap_or_else(|e| panic!("read {}: {e}", d.join(f).display()));
    Recorded {
        stdout: must("stdout"),
        stderr: must("stderr"),
        exit: must("exit").trim().parse().expect("exit code"),
        deleted: read("deleted").ok().map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        }),
        pulls: read("pull").ok().map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let mut it = l.splitn(3, ' ');
                    (it.next().unwrap().to_string(), it.next() == Some("ok"))
                })
                .collect()
        }),
    }
}

/// Parses upstream's summary line `M blobs marked, N blobs and K manifests eligible
/// for deletion` into `(M, N, K)`. Panics if there is no such line.
pub fn summary_counts(stdout: &str) -> (u64, u64, u64) {
    try_summary_counts(stdout)
        .unwrap_or_else(|| panic!("no `... blobs marked, ...` summary line in stdout:\n{stdout}"))
}

/// Like [`summary_counts`], `None` when the line is absent or malformed.
pub fn try_summary_counts(stdout: &str) -> Option<(u64, u64, u64)> {
    stdout.lines().find_map(|l| {
        let (m, rest) = l.split_once(" blobs marked, ")?;
        let (n, rest) = rest.split_once(" blobs and ")?;
        let k = rest.strip_suffix(" manifests eligible for deletion")?;
        Some((m.parse().ok()?, n.parse().ok()?, k.parse().ok()?))
    })
}

/// The digests of the `blob eligible for deletion: <d>` lines (upstream prints
/// them in random order, hence a set).
pub fn eligible_blobs(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("blob eligible for deletion: "))
        .map(|d| d.trim().to_string())
        .collect()
}

/// The digests of the 2.8.2 `manifest eligible for deletion: <d>` lines, in order.
pub fn eligible_manifests(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("manifest eligible for deletion: "))
        .map(|d| d.trim().to_string())
        .collect()
}

/// stdout with the `blob eligible for deletion` lines sorted (upstream prints them in
/// Go map order), so two runs can be compared with `assert_eq!`.
pub fn normalize_stdout(stdout: &str) -> String {
    let mut head = Vec::new();
    let mut blobs = Vec::new();
    for l in stdout.lines() {
        if l.starts_with("blob eligible for deletion: ") {
            blobs.push(l);
        } else {
            head.push(l);
        }
    }
    blobs.sort();
    head.extend(blobs);
    let mut s = head.join("\n");
    if stdout.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// A running `docker-registry serve` (distribution 2.8.2) on `127.0.0.1:<port>`,
/// serving a store root with deletes and schema1 enabled and its upload purger
/// off (on by default, it deletes uploads older than a week after a random
/// 0-59 minute delay, so once in 60 starts at once). Killed on drop.
pub struct Served {
    child: Child,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    tmp: TempDir,
}

/// A free port of 127.0.0.1 (bound, then released: a server started on it may
/// lose it to another; see [`listens_on`]).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// Whether process `pid` holds the socket listening on `port` (read from
/// Linux's `/proc`). A port that answers is not proof enough: another test's
/// server may have taken it between [`free_port`] releasing it and this one
/// binding it, and this one then exits while the test talks to the other.
pub fn listens_on(pid: u32, port: u16) -> bool {
    let listening: BTreeSet<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    // sl local_address rem_address st ... uid timeout inode
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let local = fields.get(1)?.rsplit(':').next()?;
                    let mine = u16::from_str_radix(local, 16).ok()? == port;
                    (mine && *fields.get(3)? == "0A")
                        .then(|| fields.get(9).map(|i| i.to_string()))?
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .any(|target| {
            let target = target.to_string_lossy();
            target
                .strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .is_some_and(|inode| listening.contains(inode))
        })
}

fn v2_answers(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200")
}

impl Served {
    /// Starts the registry on `root` (a rootdirectory) on a free loopback port and
    /// waits (at most ~10 s) until `GET /v2/` answers 200. Panics if it does not, with
    /// the registry's log, or if `docker-registry` is missing.
    pub fn start(root: &Path) -> Served {
        Served::start_storage(
            &format!(
                "storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n",
                root.display()
            ),
            &root.display().to_string(),
        )
    }

    /// Starts the registry with `storage` (a whole `storage:` section, which must
    /// turn upload purging off) on a free loopback port, with `REGISTRY_*` and
    /// `AWS_CA_BUNDLE` (its S3 SDK panics when that is set) removed from its
    /// environment; waits as [`Served::start`] does. `what` names the store in the
    /// panic message.
    pub fn start_storage(storage: &str, what: &str) -> Served {
        let bin = oracle_bin();
        require(&bin);
        let tmp = tempfile::Builder::new()
            .prefix("rgc-serve-")
            .tempdir()
            .expect("temp dir");
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let cfg = tmp.path().join("serve.yml");
            fs::write(
                &cfg,
                format!(
                    "version: 0.1\nlog:\n  level: warn\n{storage}http:\n  addr: 127.0.0.1:{port}\ncompatibility:\n  schema1:\n    enabled: true\n"
                ),
            )
            .expect("write serve.yml");
            let log = tmp.path().join("serve.log");
            let logf = fs::File::create(&log).expect("create serve.log");
            let mut cmd = Command::new(&bin);
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("REGISTRY_") {
                    cmd.env_remove(k);
                }
            }
            let mut child = cmd
                .env_remove("AWS_CA_BUNDLE")
                .arg("serve")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(logf.try_clone().unwrap())
                .stderr(logf)
                .spawn()
                .expect("spawn docker-registry serve");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if v2_answers(port) && listens_on(child.id(), port) {
                    return Served { child, port, tmp };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (e.g. port taken): retry on another port
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last_log = fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("docker-registry serve on {what} did not answer /v2/ within 10 s; log:\n{last_log}");
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pulls `repo:tag` (or `repo@digest`) with
    /// `skopeo copy --src-tls-verify=false --all docker://127.0.0.1:PORT/<ref> oci:<tmp>:x`,
    /// which fetches every manifest, config and layer (all platforms) and verifies
    /// their digests. `Err` holds skopeo's stderr.
    pub fn pull(&self, repo_tag: &str) -> Result<(), String> {
        require("skopeo");
        let dest = tempfile::Builder::new()
            .prefix("rgc-pull-")
            .tempdir()
            .expect("temp dir");
        skopeo_copy(&[
            "--src-tls-verify=false",
            "--all",
            &format!("docker://{}/{repo_tag}", self.addr()),
            &format!("oci:{}:x", dest.path().join("layout").display()),
        ])
    }

    /// Pushes `src` (a skopeo source such as `oci:DIR:tag` or
    /// `docker://HOST/repo:tag`) to `repo_tag` on this registry.
    pub fn push(&self, src: &str, repo_tag: &str) -> Result<(), String> {
        require("skopeo");
        skopeo_copy(&[
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            src,
            &format!("docker://{}/{repo_tag}", self.addr()),
        ])
    }

    /// [`Served::pull`] for each tag, in order.
    pub fn pull_all(&self, tags: &[String]) -> Vec<(String, Result<(), String>)> {
        tags.iter().map(|t| (t.clone(), self.pull(t))).collect()
    }

    /// The registry's log so far (level warn).
    pub fn log(&self) -> String {
        fs::read_to_string(self.tmp.path().join("serve.log")).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cargo profile this test binary was built with: the name of its
/// directory under `target/` (`debug` is the `dev` profile's).
fn test_profile() -> String {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .expect("target/<profile>/deps/<test binary>");
    match dir.to_string_lossy() {
        d if d == "debug" => "dev".to_string(),
        d => d.into_owned(),
    }
}

/// A store written by `examples/synth-store.rs` (built with the test's profile).
pub fn synth_store(args: &[&str]) -> Store {
    let store = empty_store();
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "run",
        "--quiet",
        "--profile",
        &test_profile(),
        "--example",
        "synth-store",
    ]);
    let out = c
        .arg("--")
        .arg(&store.root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cargo run --example synth-store");
    assert!(
        out.status.success(),
        "synth-store failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    store
}

/// `skopeo --insecure-policy copy -q ARGS...`; `Err` holds skopeo's stderr.
fn skopeo_copy(args: &[&str]) -> Result<(), String> {
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
