//! stderr log lines in the shapes logrus gives upstream's collector: logfmt
//! text (with colours on a terminal), JSON or logstash, fields sorted by key.

use crate::config::{LogConfig, LogFormat, LogLevel};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::{Instant, SystemTime};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Value of the `go.version` field every line carries (there is no Go
/// runtime here; scripts that parse the field still find it).
pub(crate) const GO_VERSION_FIELD: &str = concat!("registry-gc/", env!("CARGO_PKG_VERSION"));

/// A tracing layer writing upstream-shaped lines to stderr.
pub(crate) struct LogrusLayer {
    format: LogFormat,
    terminal: bool,
    fields: BTreeMap<String, String>,
    start: Instant,
}

impl LogrusLayer {
    /// A layer for `config`, with a new `instance.id`.
    pub(crate) fn new(config: &LogConfig) -> LogrusLayer {
        let mut fields = config.fields.clone();
        fields.insert("go.version".into(), GO_VERSION_FIELD.into());
        fields.insert("instance.id".into(), uuid::Uuid::new_v4().to_string());
        LogrusLayer {
            format: config.format,
            terminal: std::io::stderr().is_terminal(),
            fields,
            start: Instant::now(),
        }
    }

    /// Formats one line (without the newline).
    fn line(
        &self,
        level: Level,
        msg: &str,
        extra: &BTreeMap<String, String>,
        now: SystemTime,
    ) -> String {
        let mut fields = self.fields.clone();
        fields.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        let level_name = level_name(level);
        match self.format {
            LogFormat::Text if self.terminal => {
                let colour = match level {
                    Level::ERROR => 31,
                    Level::WARN => 33,
                    Level::DEBUG | Level::TRACE => 37,
                    Level::INFO => 36,
                };
                let upper = level_name.to_uppercase();
                let secs = self.start.elapsed().as_secs();
                let mut out = format!("\x1b[{colour}m{}\x1b[0m[{secs:04}] {msg:<44} ", &upper[..4]);
                for (k, v) in &fields {
                    let _ = write!(out, " \x1b[{colour}m{k}\x1b[0m={}", logfmt_value(v));
                }
                out
            }
            LogFormat::Text => {
                let mut out = format!(
                    "time={:?} level={level_name} msg={}",
                    rfc3339_nanos(now),
                    logfmt_value(msg)
                );
                for (k, v) in &fields {
                    let _ = write!(out, " {k}={}", logfmt_value(v));
                }
                out
            }
            LogFormat::Json | LogFormat::Logstash => {
                let mut map: serde_json::Map<String, serde_json::Value> =
                    fields.into_iter().map(|(k, v)| (k, v.into())).collect();
                map.insert("level".into(), level_name.into());
                if self.format == LogFormat::Json {
                    map.insert("msg".into(), msg.into());
                    map.insert("time".into(), rfc3339_nanos(now).into());
                } else {
                    map.insert("message".into(), msg.into());
                    map.insert("@timestamp".into(), rfc3339_nanos(now).into());
                    map.insert("@version".into(), "1".into());
                }
                serde_json::Value::Object(map).to_string()
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for LogrusLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = Fields::default();
        event.record(&mut visitor);
        let line = self.line(
            *event.metadata().level(),
            &visitor.message,
            &visitor.fields,
            SystemTime::now(),
        );
        let _ = crate::progress::suspend(|| writeln!(std::io::stderr().lock(), "{line}"));
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    fields: BTreeMap<String, String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields
                .insert(field.name().to_string(), value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        self.record_str(field, &text);
    }
}

/// Installs the layer as the global subscriber, filtered at `config.level`
/// (other crates' events at warnings and above only).
pub fn init(config: &LogConfig) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::filter::LevelFilter::from_level(match config.level {
        LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
    });
    // Libraries' own chatter (object_store's "backing off, retry 1 of 10"
    // for each retried request) only from warnings up: the retries are
    // counted in the requests the run reports.
    let ours = tracing_subscriber::filter::filter_fn(|meta| {
        meta.target().starts_with("registry_gc") || *meta.level() <= Level::WARN
    });
    let _ = tracing_subscriber::registry()
        .with(
            LogrusLayer::new(config)
                .with_filter(filter)
                .with_filter(ours),
        )
        .try_init();
}

/// One line in logrus's default format, for messages written before the
/// configuration is known (upstream's environment warnings).
pub fn default_line(level: Level, msg: &str) -> String {
    format!(
        "time={:?} level={} msg={}",
        rfc3339_nanos(SystemTime::now()),
        level_name(level),
        logfmt_value(msg)
    )
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// logrus quotes a value unless it is only `[A-Za-z0-9-._/@^+]`.
fn logfmt_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._/@^+".contains(&c));
    if plain {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

/// Go's `time.RFC3339Nano` in UTC: trailing zeros of the fraction dropped.
fn rfc3339_nanos(t: SystemTime) -> String {
    let full = humantime::format_rfc3339_nanos(t).to_string();
    let (head, frac) = full
        .trim_end_matches('Z')
        .split_once('.')
        .unwrap_or((&full, ""));
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{head}Z")
    } else {
        format!("{head}.{frac}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn layer(format: LogFormat) -> LogrusLayer {
        let mut fields = BTreeMap::new();
        fields.insert("service".to_string(), "registry".to_string());
        let mut l = LogrusLayer::new(&LogConfig {
            level: LogLevel::Info,
            format,
            fields,
        });
        l.terminal = false;
        l.fields.insert("instance.id".into(), "id-1".into());
        l
    }

    const T: Duration = Duration::from_nanos(1_795_428_245_296_671_370);

    #[test]
    fn text_lines_match_logrus() {
        let line = layer(LogFormat::Text).line(
            Level::INFO,
            "Deleting blob: /docker/registry/v2/blobs/x",
            &BTreeMap::new(),
            SystemTime::UNIX_EPOCH + T,
        );
        assert_eq!(
            line,
            format!("time=\"2026-11-23T10:04:05.29667137Z\" level=info msg=\"Deleting blob: /docker/registry/v2/blobs/x\" go.version={GO_VERSION_FIELD} instance.id=id-1 service=registry")
        );
    }

    #[test]
    fn json_lines_have_sorted_keys() {
        let line = layer(LogFormat::Json).line(
            Level::WARN,
            "a <b>",
            &BTreeMap::new(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1),
        );
        assert_eq!(
            line,
            format!("{{\"go.version\":\"{GO_VERSION_FIELD}\",\"instance.id\":\"id-1\",\"level\":\"warning\",\"msg\":\"a <b>\",\"service\":\"registry\",\"time\":\"1970-01-01T00:00:01Z\"}}")
        );
    }
}
