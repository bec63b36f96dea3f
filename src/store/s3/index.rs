//! What one flat listing said about a part of a bucket: keys (relative to
//! the store's `docker/registry/v2/`), sorted, with size, time and ETag.
//! Directories are inferred from the keys, as the registry's s3 driver does.

use crate::fsutil::{Entry, Kind, Stat};
use std::ffi::OsString;
use std::time::SystemTime;

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Object {
    /// Key relative to the store's `docker/registry/v2/`.
    pub(crate) key: Box<str>,
    pub(crate) size: u64,
    pub(crate) modified: SystemTime,
    /// The ETag, when it is an MD5 (32 hex digits; a multipart upload's is
    /// not).
    pub(crate) etag: Option<[u8; 16]>,
}

impl Object {
    /// The object a listing reports, with `key` relative to `docker/registry/v2/`.
    pub(crate) fn new(key: &str, size: u64, modified: SystemTime, etag: Option<&str>) -> Object {
        let etag = etag.and_then(|e| {
            let mut md5 = [0u8; 16];
            hex::decode_to_slice(e.trim_matches('"'), &mut md5).ok()?;
            Some(md5)
        });
        Object {
            key: key.into(),
            size,
            modified,
            etag,
        }
    }
}

/// A sorted listing.
#[derive(Debug, Default)]
pub(crate) struct Index {
    objects: Vec<Object>,
}

impl Index {
    /// An index of `objects`, in any order. Directory markers (keys ending
    /// in `/`, written by some tools) say nothing a key below them does not.
    pub(crate) fn new(mut objects: Vec<Object>) -> Index {
        objects.retain(|o| !o.key.ends_with('/'));
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        objects.dedup_by(|a, b| a.key == b.key);
        Index { objects }
    }

    /// Whether the listing holds no key.
    pub(crate) fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The object with key `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Object> {
        self.objects
            .binary_search_by(|o| (*o.key).cmp(key))
            .ok()
            .map(|i| &self.objects[i])
    }

    /// The objects whose keys start with `prefix`.
    pub(crate) fn under(&self, prefix: &str) -> &[Object] {
        let start = self.objects.partition_point(|o| *o.key < *prefix);
        let len = self.objects[start..].partition_point(|o| o.key.starts_with(prefix));
        &self.objects[start..start + len]
    }

    /// The entries of directory `dir` (`""` for the top), sorted: a name
    /// with keys below it is a directory, a whole key a file. `None` when
    /// no key lies below `dir`. Empty names (from `//` in a key) are left
    /// out: no path names them.
    pub(crate) fn list(&self, dir: &str) -> Option<Vec<Entry>> {
        let prefix = dir_prefix(dir);
        let mut objects = self.under(&prefix);
        if objects.is_empty() {
            return None;
        }
        let mut entries: Vec<Entry> = Vec::new();
        while let Some(first) = objects.first() {
            let rest = &first.key[prefix.len()..];
            let (name, kind, next) = match rest.find('/') {
                Some(i) => {
                    // Every key below this name, in one search.
                    let below = &first.key[..prefix.len() + i + 1];
                    let n = objects.partition_point(|o| o.key.starts_with(below));
                    (&rest[..i], Kind::Dir, n)
                }
                None => (rest, Kind::File, 1),
            };
            if !name.is_empty() {
                entries.push(Entry {
                    name: OsString::from(name),
                    kind,
                });
            }
            objects = &objects[next..];
        }
        // `x-y` sorts before `x/...` as keys, after `x` as names; and a key
        // that is also a directory's name is that directory.
        entries.sort_by(|a, b| {
            a.name
                .as_encoded_bytes()
                .cmp(b.name.as_encoded_bytes())
                .then((a.kind != Kind::Dir).cmp(&(b.kind != Kind::Dir)))
        });
        entries.dedup_by(|a, b| a.name == b.name);
        Some(entries)
    }

    /// What `path` is: a file (a whole key), a directory (keys below it,
    /// dated by the newest of them), or nothing.
    pub(crate) fn stat(&self, path: &str) -> Option<Stat> {
        if let Some(o) = self.get(path) {
            return Some(Stat {
                kind: Kind::File,
                size: o.size,
                modified: o.modified,
            });
        }
        let below = self.under(&dir_prefix(path));
        let newest = below.iter().map(|o| o.modified).max()?;
        Some(Stat {
            kind: Kind::Dir,
            size: 0,
            modified: newest,
        })
    }
}

/// `dir/`, or `""` for the top.
fn dir_prefix(dir: &str) -> String {
    if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(keys: &[&str]) -> Index {
        Index::new(
            keys.iter()
                .enumerate()
                .map(|(i, k)| Object {
                    key: (*k).into(),
                    size: i as u64,
                    modified: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(i as u64),
                    etag: None,
                })
                .collect(),
        )
    }

    fn names(entries: Option<Vec<Entry>>) -> Vec<(String, Kind)> {
        entries
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.name.into_string().unwrap(), e.kind))
            .collect()
    }

    #[test]
    fn directories_are_inferred_from_keys() {
        let i = index(&[
            "repositories/a/_layers/sha256/aa/link",
            "repositories/a-b/_manifests/revisions/sha256/bb/link",
            "repositories/a/_manifests/tags/v1/current/link",
            "repositories/a.txt",
            "repositories/b/",
            "repositories/c//x",
        ]);
        assert_eq!(
            names(i.list("repositories")),
            [
                ("a".into(), Kind::Dir),
                ("a-b".into(), Kind::Dir),
                ("a.txt".into(), Kind::File),
                ("c".into(), Kind::Dir),
            ]
        );
        assert_eq!(
            names(i.list("repositories/a")),
            [
                ("_layers".into(), Kind::Dir),
                ("_manifests".into(), Kind::Dir)
            ]
        );
        assert_eq!(names(i.list("repositories/c")), []);
        // A name that is the start of another's is its own entry.
        let j = index(&["r/a-b/x", "r/a-bc/y", "r/x", "r/x/y"]);
        assert_eq!(
            names(j.list("r")),
            [
                ("a-b".into(), Kind::Dir),
                ("a-bc".into(), Kind::Dir),
                ("x".into(), Kind::Dir),
            ],
            "a key that is also a directory's name is that directory"
        );
        assert!(!j.is_empty() && Index::new(Vec::new()).is_empty());
        assert!(
            i.list("repositories/b").is_none(),
            "a marker alone is nothing"
        );
        assert!(i.list("repositories/a.txt").is_none());
        assert!(i.list("nothing").is_none());
        assert_eq!(names(i.list("")), [("repositories".into(), Kind::Dir)]);
    }

    #[test]
    fn stat_of_files_and_directories() {
        let i = index(&["a/b/data", "a/c/data", "a/c/x"]);
        let file = i.stat("a/b/data").unwrap();
        assert_eq!((file.kind, file.size), (Kind::File, 0));
        let dir = i.stat("a/c").unwrap();
        assert_eq!(dir.kind, Kind::Dir);
        assert_eq!(
            dir.modified,
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2)
        );
        assert!(i.stat("a/d").is_none());
        assert!(i.stat("a/b/dat").is_none());
        assert_eq!(i.under("a/c/").len(), 2);
    }
}
