//! Finds repositories under `repositories/`, in upstream's walk order.

use crate::error::{Fault, GcError};
use crate::fsutil::{io_pool, symlink_fault, Kind};
use crate::layout::Layout;
use crate::reference::validate_name;
use rayon::prelude::*;
use std::path::Path;

/// Deepest directory the walk enters below `repositories/`. A repository
/// name is at most 255 characters (upstream's `NameTotalLengthMax`), so at
/// most 128 components: nothing deeper can be a repository. The walk
/// recurses, so it stops there with an error naming the directory instead
/// of exhausting its stack.
const MAX_DEPTH: usize = 128;

/// A directory found to be a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// Path under `repositories/`, e.g. `team/app/api`.
    pub name: String,
    /// Why the name is not a valid repository name (only with `keep_going`).
    pub(crate) invalid: Option<String>,
}

/// Walks `repositories/` depth-first, entries sorted bytewise. A directory
/// holding `_manifests` or `_layers` is a repository (named when the first
/// of them is met, so `a/0` comes before `a` and `a/b` after it). Other
/// `_`-prefixed entries are skipped; files never end the walk; nested
/// repositories are found. Subdirectories are walked in parallel, on the
/// I/O pool.
pub fn discover(layout: &Layout) -> Result<Vec<Repository>, GcError> {
    discover_with(layout, false)
}

/// [`discover`]; with `keep_going`, a repository with an invalid name is
/// returned with `invalid` set instead of ending the walk.
pub(crate) fn discover_with(layout: &Layout, keep_going: bool) -> Result<Vec<Repository>, GcError> {
    let root = layout.repositories();
    match layout.backend().list(&root) {
        Ok(None) => Err(GcError::Mark(Fault::new(
            "Path not found: /docker/registry/v2/repositories",
            &root,
        ))),
        Ok(Some(_)) => io_pool()
            .install(|| walk(layout, &root, "", 0, keep_going))
            .map_err(GcError::Mark),
        Err(f) => Err(GcError::Mark(f)),
    }
}

/// Walks `dir`, the repository path `rel`, `depth` levels below `repositories/`.
fn walk(
    layout: &Layout,
    dir: &Path,
    rel: &str,
    depth: usize,
    keep_going: bool,
) -> Result<Vec<Repository>, Fault> {
    if depth > MAX_DEPTH {
        return Err(Fault::new(
            format!("directory nested deeper than any repository name ({MAX_DEPTH} levels)"),
            dir,
        ));
    }
    let entries = layout.backend().list(dir)?.unwrap_or_default();
    let first_marker = entries
        .iter()
        .position(|e| matches!(e.name_str(), Some("_layers") | Some("_manifests")));
    let found: Vec<Vec<Repository>> = entries
        .par_iter()
        .enumerate()
        .map(|(i, entry)| {
            let path = dir.join(&entry.name);
            if Some(i) == first_marker {
                if entry.kind == Kind::Symlink {
                    return Err(symlink_fault(&path));
                }
                let invalid = match validate_name(rel) {
                    Ok(()) => None,
                    Err(e) if keep_going => Some(format!("failed to parse repo name {rel}: {e}")),
                    Err(e) => {
                        return Err(Fault::new(
                            format!("failed to parse repo name {rel}: {e}"),
                            dir,
                        ))
                    }
                };
                return Ok(vec![Repository {
                    name: rel.to_string(),
                    invalid,
                }]);
            }
            if entry.name.as_encoded_bytes().starts_with(b"_") {
                return Ok(Vec::new());
            }
            match entry.kind {
                Kind::Dir => {
                    let name = entry.name.to_string_lossy();
                    let child = if rel.is_empty() {
                        name.to_string()
                    } else {
                        format!("{rel}/{name}")
                    };
                    walk(layout, &path, &child, depth + 1, keep_going)
                }
                Kind::Symlink => Err(symlink_fault(&path)),
                Kind::File | Kind::Other => Ok(Vec::new()),
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(found.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn names(layout: &Layout) -> Vec<String> {
        discover(layout)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect()
    }

    #[test]
    fn walk_order_matches_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let repos = layout.repositories();
        for (r, marker) in [
            ("a/0", "_layers"),
            ("a", "_layers"),
            ("a/b", "_manifests"),
            ("a/b/c", "_layers"),
            ("a-b", "_layers"),
            ("a.b", "_layers"),
            ("a_b", "_layers"),
            ("ab", "_manifests"),
            ("z/y/x", "_layers"),
        ] {
            fs::create_dir_all(repos.join(r).join(marker)).unwrap();
        }
        fs::write(repos.join("_aaa"), "").unwrap();
        fs::create_dir_all(repos.join("_x/_layers")).unwrap();
        assert_eq!(
            names(&layout),
            ["a/0", "a", "a/b", "a/b/c", "a-b", "a.b", "a_b", "ab", "z/y/x"]
        );
    }

    #[test]
    fn invalid_names_and_missing_root() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let e = discover(&layout).unwrap_err().to_string();
        assert!(
            e.starts_with("failed to mark: Path not found: /docker/registry/v2/repositories (in "),
            "{e}"
        );
        fs::create_dir_all(layout.repositories().join("Bad_Name/_layers")).unwrap();
        let e = discover(&layout).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "failed to mark: failed to parse repo name Bad_Name: invalid reference format (in "
            ),
            "{e}"
        );
    }

    #[test]
    fn symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        fs::create_dir_all(layout.repositories().join("a/_layers")).unwrap();
        std::os::unix::fs::symlink(
            layout.repositories().join("a"),
            layout.repositories().join("b"),
        )
        .unwrap();
        let e = discover(&layout).unwrap_err().to_string();
        assert!(e.contains("symbolic link inside the store"), "{e}");
    }

    #[test]
    fn a_deep_tree_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        fs::create_dir_all(layout.repositories().join("a/_layers")).unwrap();
        // 3000 levels: past PATH_MAX by path, and past the stack of the
        // unbounded recursion this replaced (it overflowed).
        let _deep = crate::testing::DeepTree::new(&layout.repositories(), 3000);
        let e = discover(&layout).unwrap_err().to_string();
        let deepest = format!("{}{}", layout.repositories().display(), "/d".repeat(129));
        assert_eq!(
            e,
            format!(
                "failed to mark: directory nested deeper than any repository name (128 levels) (in {deepest})"
            )
        );
    }
}
