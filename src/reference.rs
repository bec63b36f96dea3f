//! Repository name grammar of `github.com/distribution/reference`.

use regex::Regex;
use std::sync::LazyLock;

const NAME_TOTAL_LENGTH_MAX: usize = 255;

static NAME: LazyLock<Regex> = LazyLock::new(|| {
    let domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain = format!(r"{domain_component}(?:\.{domain_component})*(?::[0-9]+)?");
    let component = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*";
    Regex::new(&format!(r"^(?:{domain}/)?{component}(?:/{component})*$")).expect("valid regex")
});

/// Checks a repository name as `reference.WithName` does, with its messages.
pub(crate) fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err("repository name must not be more than 255 characters");
    }
    if NAME.is_match(name) {
        Ok(())
    } else {
        Err("invalid reference format")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        for ok in [
            "a",
            "library/base",
            "team/app/api",
            "a-b",
            "a.b",
            "a_b",
            "a__b",
            "a---b",
            "Foo/bar",
            "localhost:5000/x",
            "0",
        ] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "Bad_Name", "", "a/", "/a", "a//b", "a_", "-a", "A", "a/B", "a..b",
        ] {
            assert_eq!(validate_name(bad), Err("invalid reference format"), "{bad}");
        }
        assert_eq!(
            validate_name(&"a".repeat(256)),
            Err("repository name must not be more than 255 characters")
        );
    }
}
