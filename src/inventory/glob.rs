//! Repository name patterns for `inventory --repo`.

/// A glob over repository names: `*` matches any characters within one
/// path component, `**` any characters across components, `?` one
/// character other than `/`; everything else matches itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// A pattern; every string is a valid one.
    pub fn new(pattern: &str) -> Glob {
        Glob(pattern.to_string())
    }

    /// Whether `name` matches the whole pattern.
    pub(crate) fn matches(&self, name: &str) -> bool {
        matches(self.0.as_bytes(), name.as_bytes())
    }
}

/// Logs a warning for each of `globs` that matches none of `names`: a
/// misspelt `--repo` selects nothing, which is otherwise easy to miss.
pub fn warn_unmatched<'a>(globs: &[Glob], names: impl Iterator<Item = &'a str> + Clone) {
    for glob in globs {
        if !names.clone().any(|n| glob.matches(n)) {
            tracing::warn!("--repo {} matches no repository", glob.0);
        }
    }
}

fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern {
        [] => name.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=name.len()).any(|i| matches(rest, &name[i..])),
        [b'*', rest @ ..] => {
            let component = name.iter().position(|&c| c == b'/').unwrap_or(name.len());
            (0..=component).any(|i| matches(rest, &name[i..]))
        }
        [b'?', rest @ ..] => name.first().is_some_and(|&c| c != b'/') && matches(rest, &name[1..]),
        [c, rest @ ..] => name.first() == Some(c) && matches(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn star_stays_in_a_component() {
        let cases = [
            ("team/*", "team/app", true),
            ("team/*", "team/app/api", false),
            ("team/**", "team/app/api", true),
            ("team/*/api", "team/app/api", true),
            ("*", "library", true),
            ("*", "library/base", false),
            ("**/base", "library/base", true),
            ("lib?ary/*", "library/base", true),
            ("lib?ary/*", "lib/ary/base", false),
            ("library/base", "library/base", true),
            ("library/base", "library/bas", false),
            ("*e*", "base", true),
            ("", "", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(Glob::new(pattern).matches(name), want, "{pattern} {name}");
        }
    }
}
