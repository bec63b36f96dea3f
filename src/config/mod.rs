//! The registry's own `config.yml`, read as upstream reads it.

mod env;
mod s3;
mod yaml;

pub use s3::S3Config;

use crate::error::os_message;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Storage keys that configure the registry rather than choose a driver.
const NOT_DRIVERS: [&str; 5] = ["maintenance", "cache", "delete", "redirect", "tag"];
/// Drivers upstream has that registry-gc does not implement yet.
const OTHER_DRIVERS: [&str; 6] = ["gcs", "azure", "swift", "oss", "inmemory", "cos"];
/// Upstream's default `rootdirectory`.
pub(crate) const DEFAULT_ROOT: &str = "/var/lib/registry";
const DEFAULT_MAX_THREADS: u64 = 100;
const MIN_MAX_THREADS: u64 = 25;

/// Why the configuration cannot be used; `Display` is the whole stderr line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing, unreadable, not YAML or not valid.
    #[error("configuration error: {0}")]
    Invalid(String),
    /// The storage driver cannot be built.
    #[error("failed to construct {driver} driver: {message}")]
    Driver { driver: String, message: String },
    /// The `log` section cannot be used.
    #[error("unable to configure logging with config: {0}")]
    Logging(String),
}

/// Log verbosity, as `log.level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// How log lines are written, as `log.formatter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Text,
    Json,
    Logstash,
}

/// The `log` settings that shape stderr.
#[derive(Clone, Debug)]
pub struct LogConfig {
    pub(crate) level: LogLevel,
    pub(crate) format: LogFormat,
    /// `log.fields`, added to every line.
    pub(crate) fields: BTreeMap<String, String>,
}

/// The storage driver the configuration names, with what registry-gc takes
/// from its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// `storage.filesystem`.
    Filesystem {
        /// `rootdirectory`.
        root: PathBuf,
        /// `maxthreads`, validated as upstream does.
        max_threads: u64,
    },
    /// `storage.s3` (or `s3aws`, the same driver's other name upstream).
    S3(S3Config),
}

/// What registry-gc takes from the configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// `storage.<driver>`.
    pub storage: Storage,
    /// `storage.cache.blobdescriptor`, if set.
    pub blob_descriptor_cache: Option<String>,
    pub log: LogConfig,
}

/// A loaded configuration and the warnings raised while loading it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// Keys given twice in the file, and upstream's warnings for
    /// unrecognised `REGISTRY_*` variables.
    pub warnings: Vec<String>,
}

/// Loads `path` (or `REGISTRY_CONFIGURATION_PATH` from `vars`) and applies
/// the `REGISTRY_*` overrides in `vars`.
pub fn load(path: Option<&Path>, vars: &[(String, String)]) -> Result<Loaded, ConfigError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => match vars
            .iter()
            .find(|(k, _)| k == "REGISTRY_CONFIGURATION_PATH")
        {
            Some((_, v)) if !v.is_empty() => PathBuf::from(v),
            _ => {
                return Err(ConfigError::Invalid(
                    "configuration path unspecified".into(),
                ))
            }
        },
    };
    let text = read(&path)?;
    let shown = path.display().to_string();
    let parsing = |msg: String| ConfigError::Invalid(format!("error parsing {shown}: {msg}"));
    let parsed = yaml::parse(&text).map_err(|e| parsing(format!("yaml: {e}")))?;
    check_replaced(&parsed.replaced).map_err(parsing)?;
    let mut doc = parsed.doc;
    check_version(&doc["version"]).map_err(parsing)?;
    let mut warnings: Vec<String> = parsed
        .duplicates
        .iter()
        .map(|d| {
            let at = d.line.map(|l| format!(" line {l}:")).unwrap_or_default();
            format!(
                "{shown}:{at} key {} given twice; using the last value, as the registry does",
                d.key
            )
        })
        .collect();
    warnings.extend(env::apply(&mut doc, vars).map_err(parsing)?);
    let log = log_config(&doc).map_err(|e| match e {
        LogProblem::Level(m) => parsing(m),
        LogProblem::Format(m) => ConfigError::Logging(m),
    })?;
    let (driver, params) = storage_driver(&doc).map_err(parsing)?;
    let storage = storage(&driver, &params)?;
    let blob_descriptor_cache = doc["storage"]["cache"]["blobdescriptor"]
        .as_str()
        .map(str::to_string);
    Ok(Loaded {
        config: Config {
            storage,
            blob_descriptor_cache,
            log,
        },
        warnings,
    })
}

fn read(path: &Path) -> Result<String, ConfigError> {
    let shown = path.display();
    let mut file = std::fs::File::open(path)
        .map_err(|e| ConfigError::Invalid(format!("open {shown}: {}", os_message(&e))))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| {
        ConfigError::Invalid(format!(
            "error parsing {shown}: read {shown}: {}",
            os_message(&e)
        ))
    })?;
    String::from_utf8(bytes)
        .map_err(|_| ConfigError::Invalid(format!("error parsing {shown}: yaml: invalid UTF-8")))
}

/// Only `version: 0.1` is accepted, compared as the text written.
fn check_version(version: &Value) -> Result<(), String> {
    let version = version.as_str().unwrap_or_default();
    if version == "0.1" {
        Ok(())
    } else {
        Err(format!("unsupported version: {version:?}"))
    }
}

/// A value that a repeated key replaced is still decoded by the registry,
/// which refuses it when it is invalid even though a later one wins.
fn check_replaced(replaced: &[(String, Value)]) -> Result<(), String> {
    for (key, value) in replaced {
        match key.as_str() {
            "version" => {
                let text = value.as_str().unwrap_or_default();
                let parts: Vec<&str> = text.split('.').collect();
                if parts.len() != 2 || parts.iter().any(|p| p.parse::<u64>().is_err()) {
                    return Err(format!("unsupported version: {text:?}"));
                }
            }
            "loglevel" | "log.level" => {
                if let Err(LogProblem::Level(m) | LogProblem::Format(m)) = level_of(value) {
                    return Err(m);
                }
            }
            "storage" => {
                drivers(value)?;
            }
            _ => {}
        }
    }
    Ok(())
}

enum LogProblem {
    Level(String),
    Format(String),
}

/// `loglevel` / `log.level`, validated as upstream does.
fn level_of(v: &Value) -> Result<Option<LogLevel>, LogProblem> {
    let Some(text) = scalar_text(v) else {
        return Ok(None);
    };
    match text.to_lowercase().as_str() {
        "error" => Ok(Some(LogLevel::Error)),
        "warn" => Ok(Some(LogLevel::Warn)),
        "info" => Ok(Some(LogLevel::Info)),
        "debug" => Ok(Some(LogLevel::Debug)),
        _ => Err(LogProblem::Level(format!(
            "invalid loglevel {text} Must be one of [error, warn, info, debug]"
        ))),
    }
}

fn log_config(doc: &Value) -> Result<LogConfig, LogProblem> {
    let old = level_of(&doc["loglevel"])?;
    let level = level_of(&doc["log"]["level"])?
        .or(old)
        .unwrap_or(LogLevel::Info);
    let format = match scalar_text(&doc["log"]["formatter"]).as_deref() {
        None | Some("") | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some("logstash") => LogFormat::Logstash,
        Some(other) => {
            return Err(LogProblem::Format(format!(
                "unsupported logging formatter: {other:?}"
            )))
        }
    };
    let fields = doc["log"]["fields"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((scalar_text(k)?, scalar_text(v).unwrap_or_default())))
                .collect()
        })
        .unwrap_or_default();
    Ok(LogConfig {
        level,
        format,
        fields,
    })
}

/// The one storage driver and its parameters.
fn storage_driver(doc: &Value) -> Result<(String, Value), String> {
    let mut drivers = drivers(&doc["storage"])?;
    match drivers.len() {
        0 => Err("no storage configuration provided".into()),
        _ => Ok(drivers.remove(0)),
    }
}

/// The drivers a `storage` section names, sorted; more than one is an error.
fn drivers(storage: &Value) -> Result<Vec<(String, Value)>, String> {
    let mut drivers: Vec<(String, Value)> = match storage {
        Value::String(name) => vec![(name.clone(), Value::Null)],
        Value::Mapping(m) => m
            .iter()
            .filter_map(|(k, v)| Some((scalar_text(k)?, v.clone())))
            .filter(|(k, _)| !NOT_DRIVERS.contains(&k.as_str()))
            .collect(),
        _ => Vec::new(),
    };
    drivers.sort_by(|a, b| a.0.cmp(&b.0));
    if drivers.len() > 1 {
        let names: Vec<&str> = drivers.iter().map(|(k, _)| k.as_str()).collect();
        return Err(format!(
            "must provide exactly one storage type. Provided: [{}]",
            names.join(" ")
        ));
    }
    Ok(drivers)
}

/// The driver `driver` built from its parameters, or why it cannot be.
fn storage(driver: &str, params: &Value) -> Result<Storage, ConfigError> {
    let fail = |message: String| ConfigError::Driver {
        driver: driver.to_string(),
        message,
    };
    if driver == "filesystem" {
        return filesystem_params(params).map_err(fail);
    }
    if s3::DRIVERS.contains(&driver) {
        return s3::parse(params).map(Storage::S3).map_err(fail);
    }
    Err(fail(if OTHER_DRIVERS.contains(&driver) {
        format!(
            "the {driver} storage driver is not supported by registry-gc yet (only filesystem and s3 are)"
        )
    } else {
        format!("StorageDriver not registered: {driver}")
    }))
}

fn filesystem_params(params: &Value) -> Result<Storage, String> {
    let root = match &params["rootdirectory"] {
        Value::Null if params.get("rootdirectory").is_none() => PathBuf::from(DEFAULT_ROOT),
        v => match scalar_text(v) {
            Some(s) if !s.is_empty() => PathBuf::from(s),
            _ => return Err("rootdirectory must be a non-empty path".into()),
        },
    };
    let max_threads =
        max_threads(&params["maxthreads"]).map_err(|e| format!("maxthreads config error: {e}"))?;
    Ok(Storage::Filesystem { root, max_threads })
}

/// upstream's `GetLimitFromParameter(param, 25, 100)`.
fn max_threads(v: &Value) -> Result<u64, String> {
    let limit = match v {
        Value::Null => DEFAULT_MAX_THREADS,
        Value::String(s) => parse_go_uint(s)
            .ok_or_else(|| format!("parameter must be an integer, '{s}' invalid"))?,
        Value::Number(n) if n.is_i64() || n.is_u64() => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) if u > 0 => u,
            _ => MIN_MAX_THREADS,
        },
        other => {
            return Err(format!(
                "invalid value '{}'",
                scalar_text(other).unwrap_or_else(|| "<non-scalar>".into())
            ))
        }
    };
    Ok(limit.max(MIN_MAX_THREADS))
}

/// Go's `strconv.ParseUint(s, 0, 64)`: decimal, `0x`, `0o`, `0b` or a leading-`0` octal.
fn parse_go_uint(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (digits, radix) = if let Some(r) = lower.strip_prefix("0x") {
        (r, 16)
    } else if let Some(r) = lower.strip_prefix("0o") {
        (r, 8)
    } else if let Some(r) = lower.strip_prefix("0b") {
        (r, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// A scalar's text as Go's `fmt.Sprint` would give it.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yml");
        std::fs::write(&path, text).unwrap();
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(Some(&path), &vars).map_err(|e| match e {
            ConfigError::Invalid(m) => {
                ConfigError::Invalid(m.replace(&path.display().to_string(), "x.yml"))
            }
            other => other,
        })
    }

    fn err(text: &str, vars: &[(&str, &str)]) -> String {
        load_text(text, vars).unwrap_err().to_string()
    }

    /// The filesystem driver's root and maxthreads.
    fn filesystem(c: &Config) -> (&Path, u64) {
        match &c.storage {
            Storage::Filesystem { root, max_threads } => (root, *max_threads),
            other => panic!("not filesystem: {other:?}"),
        }
    }

    /// The s3 driver's parameters.
    fn s3(c: &Config) -> &S3Config {
        match &c.storage {
            Storage::S3(s3) => s3,
            other => panic!("not s3: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = load_text("version: 0.1\nstorage: filesystem\n", &[])
            .unwrap()
            .config;
        assert_eq!(filesystem(&c), (Path::new("/var/lib/registry"), 100));
        assert_eq!(c.log.level, LogLevel::Info);
        assert_eq!(c.log.format, LogFormat::Text);
    }

    #[test]
    fn upstream_messages() {
        let cases = [
            ("", "configuration error: error parsing x.yml: unsupported version: \"\""),
            ("version: 0.10\nstorage: filesystem", "configuration error: error parsing x.yml: unsupported version: \"0.10\""),
            ("version: 0.2", "configuration error: error parsing x.yml: unsupported version: \"0.2\""),
            ("version: 0.1\n", "configuration error: error parsing x.yml: no storage configuration provided"),
            (
                "version: 0.1\nstorage: {filesystem: {}, s3: {}, cache: {}, tag: {}}",
                "configuration error: error parsing x.yml: must provide exactly one storage type. Provided: [filesystem s3]",
            ),
            (
                "version: 0.1\nlog: {level: verbose}\nstorage: filesystem",
                "configuration error: error parsing x.yml: invalid loglevel verbose Must be one of [error, warn, info, debug]",
            ),
            ("version: 0.1\nstorage: foo", "failed to construct foo driver: StorageDriver not registered: foo"),
            (
                "version: 0.1\nstorage: {filesystem: {maxthreads: abc}}",
                "failed to construct filesystem driver: maxthreads config error: parameter must be an integer, 'abc' invalid",
            ),
            (
                "version: 0.1\nstorage: {filesystem: {maxthreads: 2.5}}",
                "failed to construct filesystem driver: maxthreads config error: invalid value '2.5'",
            ),
            (
                "version: 0.1\nlog: {formatter: xml}\nstorage: filesystem",
                "unable to configure logging with config: unsupported logging formatter: \"xml\"",
            ),
            (
                "version: 0.1\nstorage: {s3: {bucket: b}}",
                "failed to construct s3 driver: no region parameter provided",
            ),
            (
                "version: 0.1\nstorage: {s3aws: {region: r}}",
                "failed to construct s3aws driver: no bucket parameter provided",
            ),
            (
                "version: 0.1\nstorage: s3",
                "failed to construct s3 driver: no region parameter provided",
            ),
            // Not a name 2.8.2 registers, though the driver's folder is s3-aws.
            (
                "version: 0.1\nstorage: {s3-aws: {region: r, bucket: b}}",
                "failed to construct s3-aws driver: StorageDriver not registered: s3-aws",
            ),
            (
                "version: 0.1\nstorage: {gcs: {bucket: b}}",
                "failed to construct gcs driver: the gcs storage driver is not supported by registry-gc yet (only filesystem and s3 are)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(text, &[]), want, "{text:?}");
        }
        let e = err("{{{ this is: not: yaml ]]]", &[]);
        assert!(
            e.starts_with(
                "configuration error: error parsing x.yml: yaml: did not find expected ',' or '}'"
            ),
            "{e}"
        );
    }

    #[test]
    fn duplicate_keys_as_the_registry_reads_them() {
        // Accepted by docker-registry 2.8.2: the last value wins.
        let l = load_text(
            "version: 0.2\nversion: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /a\n    rootdirectory: /b\n",
            &[],
        )
        .unwrap();
        assert_eq!(filesystem(&l.config).0, Path::new("/b"));
        let shown = |w: &String| w.split_once(": ").unwrap().1.to_string();
        let warnings: Vec<String> = l.warnings.iter().map(shown).collect();
        assert_eq!(
            warnings,
            [
                "line 2: key version given twice; using the last value, as the registry does",
                "line 6: key storage.filesystem.rootdirectory given twice; using the last value, as the registry does",
            ]
        );
        // Refused by docker-registry 2.8.2: it decodes the replaced value too.
        let cases = [
            (
                "version: 0.1\nlog: {level: verbose}\nlog: {level: info}\nstorage: filesystem",
                "configuration error: error parsing x.yml: invalid loglevel verbose Must be one of [error, warn, info, debug]",
            ),
            (
                "version: 0.1\nloglevel: verbose\nloglevel: info\nstorage: filesystem",
                "configuration error: error parsing x.yml: invalid loglevel verbose Must be one of [error, warn, info, debug]",
            ),
            (
                "version: 0.1\nlog: {formatter: xml}\nlog: {level: info}\nstorage: filesystem",
                "unable to configure logging with config: unsupported logging formatter: \"xml\"",
            ),
            (
                "version: 0.1\nstorage: {filesystem: {}, s3: {}}\nstorage: filesystem",
                "configuration error: error parsing x.yml: must provide exactly one storage type. Provided: [filesystem s3]",
            ),
            (
                "version: abc\nversion: 0.1\nstorage: filesystem",
                "configuration error: error parsing x.yml: unsupported version: \"abc\"",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(text, &[]), want, "{text:?}");
        }
    }

    #[test]
    fn missing_path_and_directory() {
        let e = load(None, &[]).unwrap_err().to_string();
        assert_eq!(e, "configuration error: configuration path unspecified");
        let e = load(Some(Path::new("/nonexistent/x.yml")), &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "configuration error: open /nonexistent/x.yml: no such file or directory"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let e = load(Some(dir.path()), &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("configuration error: error parsing {d}: read {d}: is a directory")
        );
    }

    #[test]
    fn max_threads_rules() {
        let m = |v: &str| {
            load_text(
                &format!("version: '0.1'\nstorage: {{filesystem: {{maxthreads: {v}}}}}"),
                &[],
            )
            .map(|l| filesystem(&l.config).1)
        };
        assert_eq!(m("10").unwrap(), 25);
        assert_eq!(m("-5").unwrap(), 25);
        assert_eq!(m("0").unwrap(), 25);
        assert_eq!(m("200").unwrap(), 200);
        assert_eq!(m("'0x40'").unwrap(), 64);
        assert_eq!(m("'100'").unwrap(), 100);
    }

    #[test]
    fn s3_section_loads_under_both_upstream_names() {
        for driver in ["s3", "s3aws"] {
            let yml = format!("version: 0.1\nstorage:\n  {driver}:\n    region: us-east-1\n    bucket: registry\n    regionendpoint: 127.0.0.1:9000\n    secure: false\n    rootdirectory: /registry\n    chunksize: 10485760\n  delete:\n    enabled: true\n");
            let c = load_text(&yml, &[]).unwrap().config;
            assert_eq!(
                s3(&c),
                &S3Config {
                    bucket: "registry".into(),
                    region: "us-east-1".into(),
                    endpoint: Some("http://127.0.0.1:9000".into()),
                    path_style: true,
                    key_prefix: "registry/docker/registry/v2/".into(),
                    access_key: None,
                    secret_key: None,
                    skip_verify: false,
                },
                "{driver}"
            );
        }
    }

    #[test]
    fn s3_environment_overrides() {
        // Checked against docker-registry 2.8.2: with these variables it
        // lists `http://127.0.0.1:1/b?...&prefix=registry%2Fdocker%2F...`.
        let yml = "version: 0.1\nstorage:\n  s3:\n    region: us-east-1\n    bucket: a\n    regionendpoint: https://elsewhere\n";
        let l = load_text(
            yml,
            &[
                ("REGISTRY_STORAGE_S3_BUCKET", "b"),
                ("REGISTRY_STORAGE_S3_REGIONENDPOINT", "127.0.0.1:1"),
                ("REGISTRY_STORAGE_S3_SECURE", "false"),
                ("REGISTRY_STORAGE_S3_ROOTDIRECTORY", "/registry/"),
                ("REGISTRY_STORAGE_S3_ACCESSKEY", "AK"),
                ("REGISTRY_STORAGE_S3_SECRETKEY", "SK"),
                ("REGISTRY_STORAGE_S3_SKIPVERIFY", "true"),
                ("REGISTRY_STORAGE_S3_FORCEPATHSTYLE", "true"),
            ],
        )
        .unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let c = s3(&l.config);
        assert_eq!(c.bucket, "b");
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(c.key_prefix, "registry/docker/registry/v2/");
        assert_eq!(
            (c.access_key.as_deref(), c.secret_key.as_deref()),
            (Some("AK"), Some("SK"))
        );
        assert!(c.skip_verify && c.path_style);
        // An empty value is YAML null: the key is unset (2.8.2: "no bucket
        // parameter provided"); `0` is an integer, not a boolean.
        assert_eq!(
            err(yml, &[("REGISTRY_STORAGE_S3_BUCKET", "")]),
            "failed to construct s3 driver: no bucket parameter provided"
        );
        assert_eq!(
            err(yml, &[("REGISTRY_STORAGE_S3_SECURE", "0")]),
            "failed to construct s3 driver: the secure parameter should be a boolean"
        );
        // REGISTRY_STORAGE sorts first and replaces the filesystem section.
        let fs = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /a\n";
        let l = load_text(
            fs,
            &[
                ("REGISTRY_STORAGE", "s3"),
                ("REGISTRY_STORAGE_S3_REGION", "us-east-1"),
                ("REGISTRY_STORAGE_S3_BUCKET", "b"),
            ],
        )
        .unwrap();
        assert_eq!(s3(&l.config).key_prefix, "docker/registry/v2/");
        assert_eq!(
            err(
                fs,
                &[
                    ("REGISTRY_STORAGE", "s3"),
                    ("REGISTRY_STORAGE_S3_BUCKET", "b")
                ]
            ),
            "failed to construct s3 driver: no region parameter provided"
        );
    }

    #[test]
    fn environment_overrides() {
        let yml = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /a\n  cache:\n    blobdescriptor: inmemory\n";
        let l = load_text(
            yml,
            &[
                ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/b"),
                ("REGISTRY_LOG_FIELDS_SERVICE", "registry"),
            ],
        )
        .unwrap();
        assert_eq!(filesystem(&l.config).0, Path::new("/b"));
        assert_eq!(l.config.blob_descriptor_cache.as_deref(), Some("inmemory"));
        assert_eq!(
            l.config.log.fields.get("service").map(String::as_str),
            Some("registry")
        );
        assert_eq!(
            err(yml, &[("REGISTRY_STORAGE_S3_BUCKET", "b")]),
            "configuration error: error parsing x.yml: must provide exactly one storage type. Provided: [filesystem s3]"
        );
        let l = load_text(
            yml,
            &[
                ("REGISTRY_PORT", "5000"),
                ("REGISTRY_CONFIGURATION_PATH", "/x"),
            ],
        )
        .unwrap();
        assert_eq!(
            l.warnings,
            vec!["Ignoring unrecognized environment variable REGISTRY_PORT".to_string()]
        );
        let via_env = load(
            None,
            &[(
                "REGISTRY_CONFIGURATION_PATH".into(),
                "/nonexistent.yml".into(),
            )],
        );
        assert_eq!(
            via_env.unwrap_err().to_string(),
            "configuration error: open /nonexistent.yml: no such file or directory"
        );
    }
}
