//! `--metrics-file`: a run described in the Prometheus text format that
//! node_exporter's textfile collector reads, written atomically.
//!
//! Every value describes the last run, so every metric is a gauge named
//! `registry_gc_last_run_...` (no `_total`: they are not counters), labelled
//! with the subcommand (`command="garbage-collect"`), so the files of
//! several subcommands can sit in one textfile directory. A metric is a
//! `Family`: a new one (for example requests to object storage, labelled
//! by operation) is a constant here and a `RunMetrics::set_labelled` call.

use crate::prune::PrunePlan;
use crate::run_report::RunReport;
use crate::uploads::UploadPlan;
use prometheus::{GaugeVec, Opts, Registry, TextEncoder};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One metric: name, HELP text and, for a labelled one, the label that
/// tells its samples apart (besides `command`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Family {
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
    pub(crate) label: Option<&'static str>,
}

const fn gauge(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        label: None,
    }
}

pub(crate) const START: Family = gauge(
    "registry_gc_last_run_start_timestamp_seconds",
    "When the last run started, in seconds since the Unix epoch.",
);
pub(crate) const END: Family = gauge(
    "registry_gc_last_run_end_timestamp_seconds",
    "When the last run ended, in seconds since the Unix epoch.",
);
pub(crate) const DURATION: Family = gauge(
    "registry_gc_last_run_duration_seconds",
    "How long the last run took, from start to end.",
);
pub(crate) const SUCCESS: Family = gauge(
    "registry_gc_last_run_success",
    "1 if the last run exited with status 0, else 0.",
);
pub(crate) const DRY_RUN: Family = gauge(
    "registry_gc_last_run_dry_run",
    "1 if the last run was a dry run (nothing deleted), else 0.",
);
pub(crate) const PHASE_DURATION: Family = Family {
    name: "registry_gc_last_run_phase_duration_seconds",
    help: "How long each phase of the last run took.",
    label: Some("phase"),
};
pub(crate) const REQUESTS: Family = Family {
    name: "registry_gc_last_run_requests",
    help: "Requests the last run made to object storage, by operation (S3 only).",
    label: Some("operation"),
};
pub(crate) const REPOSITORIES: Family = gauge(
    "registry_gc_last_run_repositories",
    "Repositories the last run found.",
);
pub(crate) const BLOBS_MARKED: Family = gauge(
    "registry_gc_last_run_blobs_marked",
    "Blobs the last run found referenced.",
);
pub(crate) const BLOBS_ELIGIBLE: Family = gauge(
    "registry_gc_last_run_blobs_eligible",
    "Blobs the last run found eligible for deletion.",
);
pub(crate) const BLOBS_DELETED: Family = gauge(
    "registry_gc_last_run_blobs_deleted",
    "Blobs the last run deleted.",
);
pub(crate) const MANIFESTS_ELIGIBLE: Family = gauge(
    "registry_gc_last_run_manifests_eligible",
    "Untagged manifests the last run found eligible for deletion (-m).",
);
pub(crate) const MANIFESTS_DELETED: Family = gauge(
    "registry_gc_last_run_manifests_deleted",
    "Untagged manifests the last run deleted (-m).",
);
pub(crate) const TAG_REFERENCES_DELETED: Family = gauge(
    "registry_gc_last_run_tag_references_deleted",
    "Tag index entries of deleted manifests the last run deleted (-m).",
);
pub(crate) const LAYER_LINKS_ELIGIBLE: Family = gauge(
    "registry_gc_last_run_layer_links_eligible",
    "Repository layer links the last run found eligible for deletion.",
);
pub(crate) const LAYER_LINKS_DELETED: Family = gauge(
    "registry_gc_last_run_layer_links_deleted",
    "Repository layer links the last run deleted.",
);
pub(crate) const BLOBS_KEPT_YOUNG: Family = gauge(
    "registry_gc_last_run_blobs_kept_young",
    "Unreferenced blobs the last run kept because of the grace period.",
);
pub(crate) const MANIFESTS_KEPT_YOUNG: Family = gauge(
    "registry_gc_last_run_manifests_kept_young",
    "Untagged manifests the last run kept because of the grace period.",
);
pub(crate) const KEPT_YOUNG_BYTES: Family = gauge(
    "registry_gc_last_run_kept_young_bytes",
    "Size of the blobs the last run kept because of the grace period.",
);
pub(crate) const RECLAIMABLE_BYTES: Family = gauge(
    "registry_gc_last_run_reclaimable_bytes",
    "Size of what the last run found eligible for deletion (what a dry run would free).",
);
pub(crate) const FREED_BYTES: Family = gauge(
    "registry_gc_last_run_freed_bytes",
    "Size of what the last run deleted.",
);
pub(crate) const UNREADABLE_FILES: Family = gauge(
    "registry_gc_last_run_unreadable_files",
    "Files the last run could not read (--keep-going).",
);
pub(crate) const TAGS_ELIGIBLE: Family = gauge(
    "registry_gc_last_run_tags_eligible",
    "Tags the last run found eligible for deletion.",
);
pub(crate) const TAGS_DELETED: Family = gauge(
    "registry_gc_last_run_tags_deleted",
    "Tags the last run deleted.",
);
pub(crate) const TAGS_KEPT: Family = gauge(
    "registry_gc_last_run_tags_kept",
    "Tags the last run kept, in the repositories its rules select.",
);
pub(crate) const MANIFESTS_LEFT_UNTAGGED: Family = gauge(
    "registry_gc_last_run_manifests_left_untagged",
    "Manifests whose last tag the last run deleted (or would delete).",
);
pub(crate) const UPLOADS_ELIGIBLE: Family = gauge(
    "registry_gc_last_run_uploads_eligible",
    "Abandoned uploads the last run found eligible for deletion.",
);
pub(crate) const UPLOADS_DELETED: Family = gauge(
    "registry_gc_last_run_uploads_deleted",
    "Abandoned uploads the last run deleted.",
);
pub(crate) const UPLOADS_KEPT: Family = gauge(
    "registry_gc_last_run_uploads_kept",
    "Uploads the last run kept because they are younger than --older-than.",
);

/// What one run of a subcommand measured so far.
#[derive(Debug)]
pub struct RunMetrics {
    command: &'static str,
    dry_run: bool,
    started: SystemTime,
    samples: Vec<(&'static Family, Option<String>, f64)>,
}

fn seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

impl RunMetrics {
    /// A run of `command` (`garbage-collect`, ...) starting now.
    pub fn start(command: &'static str, dry_run: bool) -> RunMetrics {
        RunMetrics {
            command,
            dry_run,
            started: SystemTime::now(),
            samples: Vec::new(),
        }
    }

    /// Sets an unlabelled metric (a later value replaces an earlier one).
    pub(crate) fn set(&mut self, family: &'static Family, value: f64) {
        self.put(family, None, value);
    }

    /// Sets the sample of a labelled metric whose label is `label`.
    pub(crate) fn set_labelled(&mut self, family: &'static Family, label: &str, value: f64) {
        self.put(family, Some(label.to_string()), value);
    }

    fn put(&mut self, family: &'static Family, label: Option<String>, value: f64) {
        debug_assert_eq!(family.label.is_some(), label.is_some(), "{}", family.name);
        self.samples
            .retain(|(f, l, _)| !(*f == family && *l == label));
        self.samples.push((family, label, value));
    }

    /// Records a phase's duration.
    pub fn phase(&mut self, name: &str, duration: Duration) {
        self.set_labelled(&PHASE_DURATION, name, duration.as_secs_f64());
    }

    /// Takes every number from `garbage-collect`'s JSON report, so the two
    /// always agree.
    pub fn record_gc(&mut self, report: &RunReport) {
        for p in &report.phases {
            self.set_labelled(&PHASE_DURATION, p.name, p.seconds);
        }
        let (c, b) = (&report.counts, &report.bytes);
        let values = [
            (&REPOSITORIES, c.repositories as f64),
            (&BLOBS_MARKED, c.blobs_marked as f64),
            (&BLOBS_ELIGIBLE, c.blobs_eligible as f64),
            (&BLOBS_DELETED, c.blobs_deleted as f64),
            (&MANIFESTS_ELIGIBLE, c.manifests_eligible as f64),
            (&MANIFESTS_DELETED, c.manifests_deleted as f64),
            (&TAG_REFERENCES_DELETED, c.tag_references_deleted as f64),
            (&LAYER_LINKS_ELIGIBLE, c.layer_links_eligible as f64),
            (&LAYER_LINKS_DELETED, c.layer_links_deleted as f64),
            (&BLOBS_KEPT_YOUNG, c.blobs_kept_young as f64),
            (&MANIFESTS_KEPT_YOUNG, c.manifests_kept_young as f64),
            (&KEPT_YOUNG_BYTES, b.kept_young as f64),
            (&RECLAIMABLE_BYTES, b.eligible as f64),
            (&FREED_BYTES, b.freed as f64),
            (&UNREADABLE_FILES, report.unreadable_files.len() as f64),
        ];
        for (family, value) in values {
            self.set(family, value);
        }
        for (op, n) in report.requests.iter().flatten() {
            self.set_labelled(&REQUESTS, op, *n as f64);
        }
    }

    /// Records `prune-tags`' plan and, after a real run, what it deleted
    /// (`done`: tags pushed again meanwhile moved to kept).
    pub fn record_prune(&mut self, planned: &PrunePlan, done: Option<&PrunePlan>) {
        self.set(&REPOSITORIES, planned.repos.len() as f64);
        self.set(&TAGS_ELIGIBLE, planned.delete_count() as f64);
        let last = done.unwrap_or(planned);
        self.set(&TAGS_KEPT, last.kept_count() as f64);
        self.set(&MANIFESTS_LEFT_UNTAGGED, last.untagged().len() as f64);
        self.set(
            &TAGS_DELETED,
            done.map_or(0, PrunePlan::delete_count) as f64,
        );
    }

    /// Records `purge-uploads`' plan and, after a real run, how many uploads
    /// and bytes it deleted.
    pub fn record_purge(&mut self, plan: &UploadPlan, deleted: Option<(usize, u64)>) {
        self.set(&UPLOADS_ELIGIBLE, plan.purge.len() as f64);
        self.set(&UPLOADS_KEPT, plan.kept as f64);
        self.set(&RECLAIMABLE_BYTES, plan.bytes() as f64);
        let (uploads, bytes) = deleted.unwrap_or_default();
        self.set(&UPLOADS_DELETED, uploads as f64);
        self.set(&FREED_BYTES, bytes as f64);
    }

    /// The text file of a run that ended at `ended`; `success` is whether
    /// it exits with status 0.
    pub fn render(&self, success: bool, ended: SystemTime) -> String {
        let took = ended.duration_since(self.started).unwrap_or_default();
        let fixed = [
            (&START, seconds(self.started)),
            (&END, seconds(ended)),
            (&DURATION, took.as_secs_f64()),
            (&SUCCESS, f64::from(u8::from(success))),
            (&DRY_RUN, f64::from(u8::from(self.dry_run))),
        ];
        let all = fixed
            .into_iter()
            .map(|(f, v)| (f, None, v))
            .chain(self.samples.iter().map(|(f, l, v)| (*f, l.clone(), *v)));
        let registry = Registry::new();
        let mut vecs: BTreeMap<&str, GaugeVec> = BTreeMap::new();
        for (family, label, value) in all {
            let gauges = vecs.entry(family.name).or_insert_with(|| {
                let labels: Vec<&str> = std::iter::once("command").chain(family.label).collect();
                let gauges = GaugeVec::new(Opts::new(family.name, family.help), &labels)
                    .expect("metric names and labels are valid");
                registry
                    .register(Box::new(gauges.clone()))
                    .expect("each family is registered once");
                gauges
            });
            let values: Vec<&str> = std::iter::once(self.command)
                .chain(label.as_deref())
                .collect();
            gauges.with_label_values(&values).set(value);
        }
        TextEncoder::new()
            .encode_to_string(&registry.gather())
            .expect("gauges encode as text")
    }
}

/// Why the metrics file cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write metrics file {}: {source}", path.display())]
pub struct MetricsFileError {
    pub(crate) path: PathBuf,
    pub(crate) source: io::Error,
}

/// The metrics file of a run, opened before the run does anything: a
/// temporary file in the target's directory (so that directory is known to
/// be writable), renamed over the target when the run is over.
#[derive(Debug)]
pub struct MetricsFile {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
}

impl MetricsFile {
    /// Creates the temporary file next to `path`; fails if that directory
    /// does not exist or is not writable, or if `path` is a directory.
    pub fn create(path: &Path) -> Result<MetricsFile, MetricsFileError> {
        let error = |source| MetricsFileError {
            path: path.to_path_buf(),
            source,
        };
        if path.is_dir() {
            return Err(error(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            )));
        }
        let temp = crate::fsutil::temp_beside(path).map_err(error)?;
        Ok(MetricsFile {
            path: path.to_path_buf(),
            temp,
        })
    }

    /// Writes `text`, makes it world-readable (the collector often runs as
    /// another user) and renames it over the target.
    pub fn commit(mut self, text: &str) -> Result<(), MetricsFileError> {
        let error = |source| MetricsFileError {
            path: self.path.clone(),
            source,
        };
        self.temp.write_all(text.as_bytes()).map_err(error)?;
        self.temp.as_file().sync_all().map_err(error)?;
        fs::set_permissions(self.temp.path(), fs::Permissions::from_mode(0o644)).map_err(error)?;
        let path = self.path.clone();
        self.temp
            .persist(&path)
            .map(drop)
            .map_err(|e| MetricsFileError {
                path,
                source: e.error,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_the_command_label() {
        let mut m = RunMetrics::start("purge-uploads", true);
        m.phase("plan", Duration::from_millis(1500));
        m.set(&UPLOADS_ELIGIBLE, 3.0);
        m.set(&UPLOADS_ELIGIBLE, 4.0);
        let text = m.render(false, m.started + Duration::from_secs(2));
        assert!(text.contains(
            "# HELP registry_gc_last_run_uploads_eligible Abandoned uploads the last run found eligible for deletion.\n\
             # TYPE registry_gc_last_run_uploads_eligible gauge\n\
             registry_gc_last_run_uploads_eligible{command=\"purge-uploads\"} 4\n"
        ), "{text}");
        assert!(text.contains(
            "registry_gc_last_run_phase_duration_seconds{command=\"purge-uploads\",phase=\"plan\"} 1.5\n"
        ), "{text}");
        assert!(text.contains("registry_gc_last_run_success{command=\"purge-uploads\"} 0\n"));
        assert!(text.contains("registry_gc_last_run_dry_run{command=\"purge-uploads\"} 1\n"));
        assert!(
            text.contains("registry_gc_last_run_duration_seconds{command=\"purge-uploads\"} 2\n")
        );
    }

    #[test]
    fn a_missing_directory_fails_before_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let e = MetricsFile::create(&dir.path().join("nope/gc.prom")).unwrap_err();
        assert_eq!(e.source.kind(), io::ErrorKind::NotFound);
        assert!(MetricsFile::create(dir.path()).is_err());
    }

    #[test]
    fn commit_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gc.prom");
        fs::write(&path, "old").unwrap();
        let file = MetricsFile::create(&path).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        file.commit("new\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
