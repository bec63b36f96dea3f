//! One module per subcommand (arguments and printing), plus what they share.

pub mod gc;
pub mod inventory;
pub mod prune_tags;
pub mod purge_uploads;

use registry_gc::config::{self, Config, ConfigError};
use registry_gc::logging;
use std::path::Path;
use std::process::ExitCode;

/// Loads the configuration (file, then `REGISTRY_*` overrides), prints
/// upstream's warnings, installs the logger. On failure prints the error
/// and returns the exit code to use.
pub fn load_config(path: Option<&Path>, usage: &str) -> Result<Config, ExitCode> {
    let vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let loaded = config::load(path, &vars).map_err(|e| {
        eprintln!("{e}");
        if matches!(e, ConfigError::Invalid(_)) {
            eprintln!("\nUsage: {usage}\n\nFor more information, try '--help'.");
        }
        ExitCode::FAILURE
    })?;
    for warning in &loaded.warnings {
        eprintln!("{}", logging::default_line(tracing::Level::WARN, warning));
    }
    logging::init(&loaded.config.log);
    Ok(loaded.config)
}
