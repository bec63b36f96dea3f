//! Human-readable quantities for log lines and tables, and durations.

use std::time::Duration;

/// Bytes in binary units with one decimal: `512 B`, `12.3 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A count and its noun: `1 tag`, `2 tags`, `1 repository`, `3 repositories`;
/// the last word of `noun` takes the plural (`2 unreadable files`).
pub fn plural(n: u64, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (n, Some(stem)) => format!("{n} {stem}ies"),
        (n, None) => format!("{n} {noun}s"),
    }
}

/// Parses a duration of a flag or policy key: `90m`, `36h`, `30d`, `2w`
/// (humantime's units); every caller's error reads the same.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|_| "not a duration (a number and a unit, such as 90m, 36h, 30d or 2w)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "manifest"), "1 manifest");
        assert_eq!(plural(0, "manifest"), "0 manifests");
        assert_eq!(plural(1, "unreadable file"), "1 unreadable file");
        assert_eq!(plural(2, "unreadable file"), "2 unreadable files");
        assert_eq!(plural(1, "repository"), "1 repository");
        assert_eq!(plural(10, "repository"), "10 repositories");
    }

    #[test]
    fn human_units() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (1024 * 1024 - 1, "1.0 MiB"),
            (12_900_000, "12.3 MiB"),
            (5 << 40, "5.0 TiB"),
            (u64::MAX, "16.0 EiB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(human_bytes(bytes), want, "{bytes}");
        }
    }
}
