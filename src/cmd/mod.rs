//! One module per subcommand (arguments and printing), plus what they share.

pub mod completions;
pub mod gc;
pub mod inventory;
pub mod man;
pub mod prune_tags;
pub mod purge_uploads;

use registry_gc::config::{self, Config, Storage};
use registry_gc::layout::Layout;
use registry_gc::metrics::{MetricsFile, RunMetrics};
use registry_gc::store::Contents;
use registry_gc::{interrupt, logging};
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

/// A boolean flag's `=value`, spelt as Go's `strconv.ParseBool` (and so
/// upstream's flags) accepts it, and nothing else: `yes`, `on` or `no` are
/// usage errors rather than a guess about whether to delete.
pub fn go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err("expected one of 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False".into()),
    }
}

/// Loads the configuration (file, then `REGISTRY_*` overrides), prints
/// upstream's warnings, installs the logger and caps the I/O pool at
/// `maxthreads`. On failure prints the error (a configuration error is not a
/// usage error: no usage block) and returns the exit code to use.
pub fn load_config(path: Option<&Path>) -> Result<Config, ExitCode> {
    let vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let loaded = config::load(path, &vars).map_err(|e| {
        eprintln!("{e}");
        ExitCode::FAILURE
    })?;
    for warning in &loaded.warnings {
        eprintln!("{}", logging::default_line(tracing::Level::WARN, warning));
    }
    logging::init(&loaded.config.log);
    if let Storage::Filesystem { max_threads, .. } = loaded.config.storage {
        registry_gc::fsutil::cap_io_threads(max_threads);
    }
    Ok(loaded.config)
}

/// A store opened by a subcommand that may delete: its configuration, its
/// layout and, for a real run, the run lock (held while this lives).
pub struct Opened {
    pub config: Config,
    pub layout: Layout,
    _lock: Option<Box<dyn std::any::Any + Send>>,
}

/// Loads the configuration, checks that the rootdirectory holds a store
/// and, unless `dry_run`, takes the store's lock and installs the
/// SIGINT/SIGTERM handler. Failures are printed after `fail_prefix` (e.g.
/// `failed to garbage collect`). A store nobody has pushed to yet gets a note
/// and `Err(ExitCode::SUCCESS)`: there is nothing to do.
pub fn open_store(
    path: Option<&Path>,
    dry_run: bool,
    fail_prefix: &str,
    in_flight: usize,
) -> Result<Opened, ExitCode> {
    let config = load_config(path)?;
    let layout = match registry_gc::store::open(&config.storage, in_flight) {
        Ok(layout) => layout,
        Err(e) => {
            eprintln!("{fail_prefix}: {e}");
            return Err(ExitCode::FAILURE);
        }
    };
    match layout.check() {
        Ok(Contents::Store) => {}
        Ok(Contents::Empty) => {
            tracing::info!(
                "no repositories in this store yet, nothing to do (in {})",
                layout.v2().display()
            );
            return Err(ExitCode::SUCCESS);
        }
        Err(e) => {
            eprintln!("{fail_prefix}: {e}");
            return Err(ExitCode::FAILURE);
        }
    }
    let lock = if dry_run {
        None
    } else {
        let lock = layout.lock().map_err(|f| {
            eprintln!("{fail_prefix}: {f}");
            ExitCode::FAILURE
        })?;
        interrupt::install();
        Some(lock)
    };
    Ok(Opened {
        config,
        layout,
        _lock: lock,
    })
}

/// Runs a subcommand's `body` for `--metrics-file PATH` (when given): the
/// file's directory is checked before anything else runs (nothing is
/// deleted if it is not writable), and the file is written whatever the
/// outcome, with success 1 only for exit status 0.
pub fn with_metrics(
    path: Option<&Path>,
    command: &'static str,
    dry_run: bool,
    fail_prefix: &str,
    body: impl FnOnce(&mut RunMetrics) -> ExitCode,
) -> ExitCode {
    let file = match path.map(MetricsFile::create).transpose() {
        Ok(file) => file,
        Err(e) => {
            eprintln!("{fail_prefix}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut metrics = RunMetrics::start(command, dry_run);
    let code = body(&mut metrics);
    let Some(file) = file else {
        return code;
    };
    let text = metrics.render(code == ExitCode::SUCCESS, SystemTime::now());
    match file.commit(&text) {
        Ok(()) => code,
        Err(e) => {
            eprintln!("{fail_prefix}: {e}");
            ExitCode::FAILURE
        }
    }
}
