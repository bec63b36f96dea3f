//! `purge-uploads`: abandoned uploads under `repositories/<r>/_uploads/<uuid>/`,
//! as the registry's own upload purger finds them (age from `startedat`),
//! deleted through `delete::remove`.

use crate::delete::{self, Target};
use crate::discover;
use crate::error::{Fault, GcError};
use crate::fsutil::{symlink_fault, Kind};
use crate::interrupt;
use crate::layout::Layout;
use rayon::prelude::*;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Where an upload's start time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartedFrom {
    /// The RFC3339 time in its `startedat` file.
    StartedAt,
    /// `startedat` is missing or unreadable: the newest mtime of the
    /// directory and its `data` file.
    Mtime,
}

/// One upload directory.
#[derive(Clone, Debug)]
pub struct Upload {
    /// Repository name.
    pub repo: String,
    /// Directory name under `_uploads/` (a UUID when the registry made it).
    pub uuid: String,
    /// Where its start time came from.
    pub from: StartedFrom,
    /// How long ago it started, when the plan was made.
    pub age: Duration,
    /// Total size of the files in it.
    pub bytes: u64,
}

/// An incomplete multipart upload of an object store to abort.
#[derive(Clone, Debug)]
pub struct Multipart {
    pub upload: crate::store::PendingUpload,
    /// How long ago it started, when the plan was made.
    pub age: Duration,
}

/// What `purge-uploads` deletes; a dry run and a real run compute the same.
#[derive(Clone, Debug, Default)]
pub struct UploadPlan {
    /// Uploads older than the limit, in repository walk order then by name.
    pub purge: Vec<Upload>,
    /// Number of younger uploads, left alone.
    pub kept: usize,
    /// On object storage: incomplete multipart uploads older than the
    /// limit, by key.
    pub multipart: Vec<Multipart>,
    /// On object storage: younger incomplete multipart uploads, left alone.
    pub multipart_kept: usize,
}

impl UploadPlan {
    /// Total bytes of the uploads to purge.
    pub fn bytes(&self) -> u64 {
        self.purge.iter().map(|u| u.bytes).sum()
    }
}

/// Why `purge-uploads` failed. `Display` gives the text after `failed to purge uploads: `.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// Reading the store.
    #[error("{0}")]
    Read(Fault),
    /// Discovery failed in a way that is not about one file.
    #[error("{0}")]
    Discover(GcError),
    /// A deletion failed; what was deleted before it stays deleted.
    #[error("failed to delete upload {what}: {fault}")]
    Delete { what: String, fault: Fault },
    /// SIGINT or SIGTERM stopped the run between two deletions.
    #[error("interrupted by a signal")]
    Interrupted,
}

/// Finds every upload of every repository (in parallel) and selects those
/// that started more than `older_than` before `now`.
pub fn plan(
    layout: &Layout,
    older_than: Duration,
    now: SystemTime,
) -> Result<UploadPlan, PurgeError> {
    let repos = discover::discover(layout).map_err(|e| match e {
        GcError::Mark(f) => PurgeError::Read(f),
        other => PurgeError::Discover(other),
    })?;
    let found: Vec<Vec<Upload>> = repos
        .par_iter()
        .map(|r| read_uploads(layout, &r.name, now))
        .collect::<Result<_, Fault>>()
        .map_err(PurgeError::Read)?;
    let (purge, kept) = older_than_limit(found.into_iter().flatten(), |u| u.age, older_than);
    let mut pending = layout
        .backend()
        .pending_uploads()
        .map_err(PurgeError::Read)?;
    pending.sort_by(|a, b| (&a.key, &a.id).cmp(&(&b.key, &b.id)));
    let pending = pending.into_iter().map(|upload| Multipart {
        age: now.duration_since(upload.started).unwrap_or(Duration::ZERO),
        upload,
    });
    let (multipart, multipart_kept) = older_than_limit(pending, |m| m.age, older_than);
    Ok(UploadPlan {
        purge,
        kept,
        multipart,
        multipart_kept,
    })
}

/// The items older than `limit`, in order, and how many others there were.
/// One rule for upload directories and multipart uploads alike.
fn older_than_limit<T>(
    items: impl Iterator<Item = T>,
    age: impl Fn(&T) -> Duration,
    limit: Duration,
) -> (Vec<T>, usize) {
    let (older, younger): (Vec<T>, Vec<T>) = items.partition(|item| age(item) > limit);
    (older, younger.len())
}

fn read_uploads(layout: &Layout, repo: &str, now: SystemTime) -> Result<Vec<Upload>, Fault> {
    let dir = layout.uploads(repo);
    let mut out = Vec::new();
    for entry in layout.backend().list(&dir)?.unwrap_or_default() {
        let path = dir.join(&entry.name);
        let uuid = match (entry.kind, entry.name_str()) {
            (Kind::Dir, Some(n)) => n.to_string(),
            (Kind::Dir, _) => return Err(Fault::new("upload name is not UTF-8", &path)),
            (Kind::Symlink, _) => return Err(symlink_fault(&path)),
            _ => continue,
        };
        let (started, from) = match read_started_at(layout, &path.join("startedat"))? {
            Some(t) => (t, StartedFrom::StartedAt),
            None => (newest_mtime(layout, &path)?, StartedFrom::Mtime),
        };
        out.push(Upload {
            repo: repo.to_string(),
            uuid,
            from,
            age: now.duration_since(started).unwrap_or(Duration::ZERO),
            bytes: size_of(layout, &path, 0)?,
        });
    }
    Ok(out)
}

/// The time in a `startedat` file; `None` if it is missing or not a time.
fn read_started_at(layout: &Layout, path: &Path) -> Result<Option<SystemTime>, Fault> {
    let store = layout.backend();
    match store.stat(path)? {
        Some(s) if s.kind == Kind::Symlink => return Err(symlink_fault(path)),
        Some(s) if s.kind != Kind::File => return Ok(None),
        Some(_) => {}
        None => return Ok(None),
    }
    let bytes = store
        .read(path, 1024, false)
        .ok()
        .flatten()
        .map(|r| r.bytes)
        .unwrap_or_default();
    Ok(parse_rfc3339(String::from_utf8_lossy(&bytes).trim()))
}

/// Parses an RFC3339 time as Go's `time.RFC3339` writes it, with `Z` or a
/// numeric offset (`2024-05-01T12:00:00+02:00`).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let split = text.len().checked_sub(6)?;
    let (base, offset) = match text.get(split..).map(str::as_bytes) {
        Some([sign @ (b'+' | b'-'), h1, h2, b':', m1, m2])
            if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()) =>
        {
            let digit = |b: &u8| u64::from(b - b'0');
            let secs = (digit(h1) * 10 + digit(h2)) * 3600 + (digit(m1) * 10 + digit(m2)) * 60;
            (
                &text[..split],
                Some((*sign == b'+', Duration::from_secs(secs))),
            )
        }
        _ => (text, None),
    };
    let utc = humantime::parse_rfc3339_weak(base).ok()?;
    match offset {
        None => Some(utc),
        Some((true, d)) => utc.checked_sub(d),
        Some((false, d)) => utc.checked_add(d),
    }
}

/// The newest mtime of an upload directory and its `data` file.
fn newest_mtime(layout: &Layout, dir: &Path) -> Result<SystemTime, Fault> {
    let mtime = |p: &Path| -> Result<Option<SystemTime>, Fault> {
        match layout.backend().stat(p)? {
            Some(s) if s.kind == Kind::Symlink => Err(symlink_fault(p)),
            Some(s) => Ok(Some(s.modified)),
            None => Ok(None),
        }
    };
    let dir_time = mtime(dir)?.ok_or_else(|| Fault::new("Path not found", dir))?;
    Ok(mtime(&dir.join("data"))?.map_or(dir_time, |t| t.max(dir_time)))
}

/// Deepest directory [`size_of`] enters below an upload's directory (the
/// registry writes two levels: `hashstates/<alg>/`).
const MAX_UPLOAD_DEPTH: usize = 16;

/// Total size of the regular files below `dir`, `depth` levels below the
/// upload's directory; symlinks and deeper trees are refused.
fn size_of(layout: &Layout, dir: &Path, depth: usize) -> Result<u64, Fault> {
    if depth > MAX_UPLOAD_DEPTH {
        return Err(Fault::new(
            format!("upload directory nested deeper than {MAX_UPLOAD_DEPTH} levels"),
            dir,
        ));
    }
    let mut total = 0;
    let store = layout.backend();
    for entry in store.list(dir)?.unwrap_or_default() {
        let path = dir.join(&entry.name);
        total += match entry.kind {
            Kind::Dir => size_of(layout, &path, depth + 1)?,
            Kind::Symlink => return Err(symlink_fault(&path)),
            Kind::File | Kind::Other => store.stat(&path)?.map_or(0, |s| s.size),
        };
    }
    Ok(total)
}

/// Deletes the plan's uploads through `delete::remove`, logging each one
/// first. Returns how many were deleted and their bytes (an upload already
/// gone is not counted).
pub fn apply(layout: &Layout, plan: &UploadPlan) -> Result<(usize, u64), PurgeError> {
    let (mut deleted, mut bytes) = (0, 0);
    for u in &plan.purge {
        if interrupt::requested() {
            return Err(PurgeError::Interrupted);
        }
        let target = Target::Upload {
            repo: &u.repo,
            uuid: &u.uuid,
        };
        tracing::info!("deleting upload: {}", layout.display(&target.path(layout)));
        if delete::remove_one(layout, target).map_err(|fault| PurgeError::Delete {
            what: format!("{} {}", u.repo, u.uuid),
            fault,
        })? {
            deleted += 1;
            bytes += u.bytes;
        }
    }
    for m in &plan.multipart {
        if interrupt::requested() {
            return Err(PurgeError::Interrupted);
        }
        let u = &m.upload;
        tracing::info!(
            "aborting multipart upload: {}/{} ({})",
            crate::layout::V2_PREFIX,
            u.key,
            u.id
        );
        layout
            .backend()
            .abort_upload(u)
            .map_err(|fault| PurgeError::Delete {
                what: format!("multipart {} {}", u.key, u.id),
                fault,
            })?;
    }
    Ok((deleted, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::UNIX_EPOCH;

    /// The registry's own purger's default age (and `--older-than`'s): 168h.
    const DEFAULT_AGE: Duration = Duration::from_secs(168 * 3600);

    #[test]
    fn startedat_as_go_writes_it() {
        let t = |s| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs());
        assert_eq!(t("2026-11-23T11:41:09Z"), Some(1795434069));
        assert_eq!(t("2026-11-23T12:41:09+01:00"), Some(1795434069));
        assert_eq!(t("2026-11-23T10:11:09-01:30"), Some(1795434069));
        assert_eq!(t("2026-11-23T22:21:09+10:40"), Some(1795434069));
        assert_eq!(t("2026-11-23T00:00:09-11:41"), Some(1795434069));
        assert_eq!(t("2026-11-23T11:41:09.5Z"), Some(1795434069));
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "+01:00"] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn ages_from_startedat_or_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        fs::create_dir_all(layout.repository("a").join("_layers")).unwrap();
        let now = SystemTime::now();
        let old = layout.upload_dir("a", "old");
        fs::create_dir_all(old.join("hashstates/sha256")).unwrap();
        fs::write(old.join("data"), "12345").unwrap();
        fs::write(old.join("hashstates/sha256/0"), "ab").unwrap();
        fs::write(old.join("startedat"), "2000-01-01T00:00:00Z").unwrap();
        let young = layout.upload_dir("a", "young");
        fs::create_dir_all(&young).unwrap();
        fs::write(young.join("startedat"), "garbage").unwrap();
        let plan = plan(&layout, DEFAULT_AGE, now).unwrap();
        assert_eq!(plan.kept, 1);
        assert_eq!(plan.purge.len(), 1);
        let u = &plan.purge[0];
        assert_eq!(
            (u.uuid.as_str(), u.from, u.bytes),
            ("old", StartedFrom::StartedAt, 27)
        );
        assert_eq!(apply(&layout, &plan).unwrap(), (1, 27));
        assert!(!old.exists() && young.exists());
    }

    #[test]
    fn a_deep_upload_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        fs::create_dir_all(layout.repository("a").join("_layers")).unwrap();
        let upload = layout.upload_dir("a", "deep");
        fs::create_dir_all(&upload).unwrap();
        fs::write(upload.join("startedat"), "2000-01-01T00:00:00Z").unwrap();
        let _deep = crate::testing::DeepTree::new(&upload, 3000);
        let e = plan(&layout, DEFAULT_AGE, SystemTime::now())
            .unwrap_err()
            .to_string();
        let deepest = format!("{}{}", upload.display(), "/d".repeat(17));
        assert!(
            e.contains(&format!(
                "upload directory nested deeper than 16 levels (in {deepest})"
            )),
            "{e}"
        );
        assert!(upload.exists());
    }
}
