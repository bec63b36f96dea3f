//! Tag retention (`prune-tags`): which tags to delete, computed from the
//! store and the rules as one [`PrunePlan`], then applied tag by tag through
//! `delete::remove`. Deleting a tag removes only its
//! `_manifests/tags/<tag>/` directory, as the registry's own tag delete does:
//! other tags on the same manifest stay, and manifests are left for
//! `garbage-collect -m`.
//!
//! Rules, per repository:
//! 1. only tags matching `match` are candidates (all tags if it is unset);
//! 2. a candidate matching any `keep` regex is kept, whatever else applies;
//! 3. the other candidates are ranked by push time (mtime of
//!    `current/link`, newest first, ties by name); with `keep_last = N` the
//!    first N are kept;
//! 4. the rest are deleted, but with `older_than` only those pushed longer
//!    ago than that (so `keep_last` is a floor under `older_than`).
//!
//! Rules without `older_than` and `keep_last` are refused: nothing ever
//! deletes every tag by accident.

use crate::delete::{self, Target};
use crate::digest::Digest;
use crate::discover;
use crate::error::{Fault, GcError};
use crate::fsutil::{symlink_fault, Kind};
use crate::interrupt;
use crate::inventory::{warn_unmatched, Glob};
use crate::layout::Layout;
use crate::manifests;
use crate::units::parse_duration;
use rayon::prelude::*;
use regex::Regex;
use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

/// The tag grammar of `github.com/distribution/reference`.
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("valid regex"));

/// What decides, within one repository, which tags are deleted.
#[derive(Clone, Debug)]
pub struct Rules {
    older_than: Option<Duration>,
    keep_last: Option<usize>,
    keep: Vec<Regex>,
    matching: Option<Regex>,
}

impl Rules {
    /// Rules with at least one selecting rule (`older_than` or `keep_last`,
    /// which must be at least 1). Regexes match anywhere in the tag unless
    /// anchored with `^` and `$`.
    pub fn new(
        older_than: Option<Duration>,
        keep_last: Option<usize>,
        keep: Vec<Regex>,
        matching: Option<Regex>,
    ) -> Result<Rules, String> {
        if older_than.is_none() && keep_last.is_none() {
            return Err("no selecting rule: give --older-than or --keep-last (prune-tags never deletes every tag)".into());
        }
        if keep_last == Some(0) {
            return Err("--keep-last must be at least 1".into());
        }
        if older_than.is_some_and(|d| d.is_zero()) {
            return Err(
                "--older-than must be longer than 0 (prune-tags never deletes every tag)".into(),
            );
        }
        Ok(Rules {
            older_than,
            keep_last,
            keep,
            matching,
        })
    }

    /// Decides the fate of one repository's tags.
    fn decide(&self, repo: &str, tags: Vec<TagState>, now: SystemTime) -> RepoPrune {
        let mut out = RepoPrune {
            repo: repo.to_string(),
            delete: Vec::new(),
            kept: Vec::new(),
            still_tagged: BTreeSet::new(),
        };
        let mut ranked = Vec::new();
        for t in tags {
            let reason = match (&t.current, &self.matching) {
                (None, _) => Some(KeepReason::NoCurrentLink),
                (_, Some(m)) if !m.is_match(&t.name) => Some(KeepReason::NotMatched),
                _ => self
                    .keep
                    .iter()
                    .find(|k| k.is_match(&t.name))
                    .map(|k| KeepReason::KeepPattern(k.as_str().to_string())),
            };
            match (reason, t.current) {
                (None, Some((digest, pushed))) => ranked.push((t.name, digest, pushed)),
                (reason, current) => {
                    if let Some((digest, _)) = current {
                        out.still_tagged.insert(digest);
                    }
                    out.kept.push(KeptTag {
                        tag: t.name,
                        reason: reason.unwrap_or(KeepReason::NoCurrentLink),
                    });
                }
            }
        }
        ranked.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        for (rank, (tag, digest, pushed)) in ranked.into_iter().enumerate() {
            let age = now.duration_since(pushed).unwrap_or(Duration::ZERO);
            let reason = match (self.keep_last, self.older_than) {
                (Some(n), _) if rank < n => Some(KeepReason::AmongLast(n)),
                (_, Some(limit)) if age <= limit => Some(KeepReason::Recent(limit)),
                (None, None) => Some(KeepReason::NoRule),
                _ => None,
            };
            match reason {
                Some(reason) => {
                    out.still_tagged.insert(digest);
                    out.kept.push(KeptTag { tag, reason });
                }
                None => out.delete.push(DoomedTag {
                    tag,
                    digest,
                    pushed,
                    age,
                }),
            }
        }
        out.delete.sort_by(|a, b| a.tag.cmp(&b.tag));
        out.kept.sort_by(|a, b| a.tag.cmp(&b.tag));
        out
    }
}

/// Rules per repository: the first entry whose glob matches a repository
/// decides for it; repositories no entry matches are left alone. Globs are
/// `inventory --repo`'s: `*` and `?` stay within one path component, `**`
/// spans several (`team/*` is `team/app` but not `team/app/api`).
#[derive(Clone, Debug)]
pub struct Policy {
    entries: Vec<(Glob, Rules)>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    rules: Vec<PolicyRule>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyRule {
    repo: String,
    older_than: Option<String>,
    keep_last: Option<usize>,
    #[serde(default)]
    keep: Vec<String>,
    #[serde(rename = "match")]
    matching: Option<String>,
}

impl Policy {
    /// The same rules for every repository.
    pub fn all(rules: Rules) -> Policy {
        Policy {
            entries: vec![(Glob::new("**"), rules)],
        }
    }

    /// Parses a policy file:
    ///
    /// ```yaml
    /// rules:
    ///   - repo: "team/**"        # first matching glob wins
    ///     older_than: 30d
    ///     keep_last: 10
    ///     keep: ['^latest$', '^v[0-9]']
    ///     match: '^ci-'
    /// ```
    pub fn from_yaml(text: &str) -> Result<Policy, String> {
        let file: PolicyFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        if file.rules.is_empty() {
            return Err("the policy has no rules".into());
        }
        let entries = file
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let at = |e: String| format!("rule {} (repo {:?}): {e}", i + 1, r.repo);
                if r.repo.is_empty() {
                    return Err(at("empty repository glob".into()));
                }
                let glob = Glob::new(&r.repo);
                let older_than = r
                    .older_than
                    .as_deref()
                    .map(|d| parse_duration(d).map_err(|e| format!("older_than {d:?}: {e}")))
                    .transpose()
                    .map_err(at)?;
                let keep = r
                    .keep
                    .iter()
                    .map(|k| parse_regex(k))
                    .collect::<Result<_, _>>()
                    .map_err(at)?;
                let matching = r
                    .matching
                    .as_deref()
                    .map(parse_regex)
                    .transpose()
                    .map_err(at)?;
                let rules = Rules::new(older_than, r.keep_last, keep, matching).map_err(|e| {
                    at(e.replace("--older-than", "older_than")
                        .replace("--keep-last", "keep_last"))
                })?;
                Ok((glob, rules))
            })
            .collect::<Result<_, String>>()?;
        Ok(Policy { entries })
    }

    fn rules_for(&self, repo: &str) -> Option<&Rules> {
        self.entries
            .iter()
            .find(|(g, _)| g.matches(repo))
            .map(|(_, r)| r)
    }
}

/// Parses a tag regex.
pub fn parse_regex(text: &str) -> Result<Regex, String> {
    Regex::new(text).map_err(|e| format!("bad regex {text:?}: {e}"))
}

/// Why a tag is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeepReason {
    /// `match` is set and does not match it: it was not considered.
    NotMatched,
    /// A `keep` regex (this one) matches it.
    KeepPattern(String),
    /// It is among the `keep_last` (this many) most recently pushed.
    AmongLast(usize),
    /// It was pushed less than `older_than` (this long) ago.
    Recent(Duration),
    /// Its `current/link` is missing: it names no manifest, and has no age.
    NoCurrentLink,
    /// No selecting rule (never produced by [`Rules::new`]).
    NoRule,
    /// Its `current/link` changed between the plan and the deletion.
    Changed,
}

impl std::fmt::Display for KeepReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeepReason::NotMatched => write!(f, "not matched by --match"),
            KeepReason::KeepPattern(re) => write!(f, "matches --keep {re}"),
            KeepReason::AmongLast(n) => write!(f, "one of the {n} most recently pushed"),
            KeepReason::Recent(d) => write!(f, "pushed less than {} ago", format_age(*d)),
            KeepReason::NoCurrentLink => write!(f, "no current/link"),
            KeepReason::NoRule => write!(f, "no selecting rule"),
            KeepReason::Changed => write!(f, "pushed again while pruning"),
        }
    }
}

/// A tag the plan deletes.
#[derive(Clone, Debug)]
pub struct DoomedTag {
    /// The tag name.
    pub tag: String,
    /// The manifest its `current/link` names.
    pub(crate) digest: Digest,
    /// Modification time of its `current/link`: when it was last pushed.
    pub(crate) pushed: SystemTime,
    /// How long ago that was, when the plan was made.
    pub age: Duration,
}

/// A tag the plan keeps, and why.
#[derive(Clone, Debug)]
pub struct KeptTag {
    /// The tag name.
    pub tag: String,
    /// Why it stays.
    pub reason: KeepReason,
}

/// The decisions for one repository.
#[derive(Clone, Debug)]
pub struct RepoPrune {
    /// Repository name.
    pub repo: String,
    /// Tags to delete, sorted by name.
    pub delete: Vec<DoomedTag>,
    /// Tags kept, sorted by name.
    pub kept: Vec<KeptTag>,
    /// Manifests the kept tags name.
    pub(crate) still_tagged: BTreeSet<Digest>,
}

/// What `prune-tags` deletes; a dry run and a real run compute the same.
#[derive(Clone, Debug, Default)]
pub struct PrunePlan {
    /// Repositories some rule applies to, in walk order.
    pub repos: Vec<RepoPrune>,
    /// Repositories no rule (or `--repo` glob) selected; not read.
    pub(crate) skipped_repos: usize,
}

impl PrunePlan {
    /// Number of tags to delete.
    pub fn delete_count(&self) -> usize {
        self.repos.iter().map(|r| r.delete.len()).sum()
    }

    /// Number of tags kept (in the repositories read).
    pub fn kept_count(&self) -> usize {
        self.repos.iter().map(|r| r.kept.len()).sum()
    }

    /// Repositories losing at least one tag.
    pub fn repos_touched(&self) -> usize {
        self.repos.iter().filter(|r| !r.delete.is_empty()).count()
    }

    /// Manifests that lose their last tag: `garbage-collect -m` reclaims them
    /// (and what only they reference).
    pub fn untagged(&self) -> Vec<(&str, &Digest)> {
        let mut out = Vec::new();
        for r in &self.repos {
            let lost: BTreeSet<&Digest> = r
                .delete
                .iter()
                .map(|t| &t.digest)
                .filter(|d| !r.still_tagged.contains(d))
                .collect();
            out.extend(lost.into_iter().map(|d| (r.repo.as_str(), d)));
        }
        out
    }
}

/// Why `prune-tags` failed. `Display` gives the text after `failed to prune tags: `.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// Reading the store (repositories, tags, links).
    #[error("{0}")]
    Read(Fault),
    /// Discovery failed in a way that is not about one file.
    #[error("{0}")]
    Discover(GcError),
    /// A deletion failed; what was deleted before it stays deleted.
    #[error("failed to delete {what}: {fault}")]
    Delete { what: String, fault: Fault },
    /// SIGINT or SIGTERM stopped the run between two deletions.
    #[error("interrupted by a signal")]
    Interrupted,
}

/// One tag directory as read.
struct TagState {
    name: String,
    /// The digest of `current/link` and its mtime; `None` if it is missing.
    current: Option<(Digest, SystemTime)>,
}

/// Computes the plan: repositories selected by `repos` (all if empty) and
/// by the policy, each repository's tags read once, repositories in parallel.
pub fn plan(
    layout: &Layout,
    policy: &Policy,
    repos: &[Glob],
    now: SystemTime,
) -> Result<PrunePlan, PruneError> {
    let all = discover::discover(layout).map_err(|e| match e {
        GcError::Mark(f) => PruneError::Read(f),
        other => PruneError::Discover(other),
    })?;
    warn_unmatched(repos, all.iter().map(|r| r.name.as_str()));
    let selected: Vec<(&str, &Rules)> = all
        .iter()
        .filter(|r| repos.is_empty() || repos.iter().any(|g| g.matches(&r.name)))
        .filter_map(|r| Some((r.name.as_str(), policy.rules_for(&r.name)?)))
        .collect();
    let skipped_repos = all.len() - selected.len();
    let repos = selected
        .par_iter()
        .map(|(repo, rules)| Ok(rules.decide(repo, read_tags(layout, repo)?, now)))
        .collect::<Result<_, Fault>>()
        .map_err(PruneError::Read)?;
    Ok(PrunePlan {
        repos,
        skipped_repos,
    })
}

fn read_tags(layout: &Layout, repo: &str) -> Result<Vec<TagState>, Fault> {
    let dir = layout.tags(repo);
    let mut names = Vec::new();
    for entry in layout.backend().list(&dir)?.unwrap_or_default() {
        let path = dir.join(&entry.name);
        match (entry.kind, entry.name_str()) {
            (Kind::Dir, Some(n)) if TAG.is_match(n) => names.push(n.to_string()),
            (Kind::Dir, _) => return Err(Fault::new("invalid tag name", &path)),
            (Kind::Symlink, _) => return Err(symlink_fault(&path)),
            _ => {}
        }
    }
    names
        .into_par_iter()
        .map(|name| {
            let current = read_current(layout, repo, &name)?;
            Ok(TagState { name, current })
        })
        .collect()
}

/// The digest `current/link` names and its mtime, never through a symlink;
/// `None` if it does not exist.
fn read_current(
    layout: &Layout,
    repo: &str,
    tag: &str,
) -> Result<Option<(Digest, SystemTime)>, Fault> {
    let current = manifests::read_tag_link(layout, repo, tag, None, true)?;
    // The mtime was asked for, so it is there.
    Ok(current.and_then(|(d, pushed)| Some((d, pushed?))))
}

/// Applies a plan: deletes each tag directory through `delete::remove`,
/// logging it first. A tag whose `current/link` changed since the plan was
/// made (pushed again) is left alone with a warning. Returns the plan of
/// what was done: such tags move to `kept`.
pub fn apply(layout: &Layout, plan: &PrunePlan) -> Result<PrunePlan, PruneError> {
    // Each tag is read again before it goes: not from a listing made
    // while planning.
    layout.backend().refresh();
    let mut done = PrunePlan {
        repos: Vec::new(),
        skipped_repos: plan.skipped_repos,
    };
    for r in &plan.repos {
        let mut out = RepoPrune {
            delete: Vec::new(),
            ..r.clone()
        };
        for t in &r.delete {
            if interrupt::requested() {
                return Err(PruneError::Interrupted);
            }
            let now = read_current(layout, &r.repo, &t.tag).map_err(PruneError::Read)?;
            if now.as_ref() != Some(&(t.digest.clone(), t.pushed)) {
                tracing::warn!(
                    "tag {}:{} changed since the plan was made: left alone",
                    r.repo,
                    t.tag
                );
                out.still_tagged.insert(t.digest.clone());
                out.kept.push(KeptTag {
                    tag: t.tag.clone(),
                    reason: KeepReason::Changed,
                });
                continue;
            }
            let target = Target::Tag {
                repo: &r.repo,
                tag: &t.tag,
            };
            tracing::info!("deleting tag: {}", layout.display(&target.path(layout)));
            delete::remove_one(layout, target).map_err(|fault| PruneError::Delete {
                what: format!("tag {}:{}", r.repo, t.tag),
                fault,
            })?;
            out.delete.push(t.clone());
        }
        out.kept.sort_by(|a, b| a.tag.cmp(&b.tag));
        done.repos.push(out);
    }
    Ok(done)
}

/// An age as `40d3h`, `5h12m`, `3m20s` or `12s`.
pub fn format_age(age: Duration) -> String {
    let s = age.as_secs();
    let (d, h, m, s) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86400);

    fn digest(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    /// Tags `(name, age in days, manifest)` decided at `now`.
    fn decide(rules: &Rules, tags: &[(&str, u64, u8)]) -> RepoPrune {
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let tags = tags
            .iter()
            .map(|&(name, days, m)| TagState {
                name: name.to_string(),
                current: Some((digest(m), now - DAY * days as u32)),
            })
            .collect();
        rules.decide("r", tags, now)
    }

    fn deleted(p: &RepoPrune) -> Vec<&str> {
        p.delete.iter().map(|t| t.tag.as_str()).collect()
    }

    fn reason<'a>(p: &'a RepoPrune, tag: &str) -> &'a KeepReason {
        &p.kept.iter().find(|k| k.tag == tag).unwrap().reason
    }

    fn re(s: &str) -> Regex {
        parse_regex(s).unwrap()
    }

    const TAGS: &[(&str, u64, u8)] = &[
        ("latest", 40, 1),
        ("v1.0", 50, 2),
        ("ci-1", 30, 3),
        ("ci-2", 20, 4),
        ("ci-3", 10, 5),
        ("ci-4", 1, 6),
    ];

    #[test]
    fn refuses_rules_that_select_nothing() {
        let e = Rules::new(None, None, vec![re("x")], Some(re("y"))).unwrap_err();
        assert!(e.contains("no selecting rule"), "{e}");
        assert!(Rules::new(None, Some(0), vec![], None).is_err());
    }

    #[test]
    fn older_than_alone() {
        let rules = Rules::new(Some(25 * DAY), None, vec![], None).unwrap();
        let p = decide(&rules, TAGS);
        assert_eq!(deleted(&p), ["ci-1", "latest", "v1.0"]);
        assert_eq!(reason(&p, "ci-2"), &KeepReason::Recent(25 * DAY));
        assert_eq!(p.delete[0].age, 30 * DAY);
    }

    #[test]
    fn keep_last_orders_by_push_time_not_name() {
        let rules = Rules::new(None, Some(2), vec![], None).unwrap();
        let p = decide(&rules, TAGS);
        assert_eq!(deleted(&p), ["ci-1", "ci-2", "latest", "v1.0"]);
        assert_eq!(reason(&p, "ci-4"), &KeepReason::AmongLast(2));
        // Equal push times: the name breaks the tie, deterministically.
        let p = decide(&rules, &[("b", 1, 1), ("a", 1, 1), ("c", 1, 1)]);
        assert_eq!(deleted(&p), ["c"]);
    }

    #[test]
    fn keep_last_is_a_floor_under_older_than() {
        // Every tag is older than 5 days: keep-last still keeps the 3 most
        // recently pushed.
        let rules = Rules::new(Some(5 * DAY), Some(3), vec![], None).unwrap();
        let p = decide(&rules, TAGS);
        assert_eq!(deleted(&p), ["ci-1", "latest", "v1.0"]);
        assert_eq!(reason(&p, "ci-2"), &KeepReason::AmongLast(3));
        // And older-than still protects recent tags beyond the last N.
        let rules = Rules::new(Some(25 * DAY), Some(1), vec![], None).unwrap();
        let p = decide(&rules, TAGS);
        assert_eq!(deleted(&p), ["ci-1", "latest", "v1.0"]);
        assert_eq!(reason(&p, "ci-3"), &KeepReason::Recent(25 * DAY));
    }

    #[test]
    fn keep_wins_over_every_deleting_rule_and_is_not_counted_in_keep_last() {
        let keep = vec![re("^latest$"), re(r"^v\d")];
        let rules = Rules::new(Some(Duration::from_secs(1)), Some(1), keep, None).unwrap();
        let p = decide(&rules, TAGS);
        assert_eq!(deleted(&p), ["ci-1", "ci-2", "ci-3"]);
        assert_eq!(
            reason(&p, "latest"),
            &KeepReason::KeepPattern("^latest$".into())
        );
        assert_eq!(reason(&p, "v1.0"), &KeepReason::KeepPattern(r"^v\d".into()));
        assert_eq!(reason(&p, "ci-4"), &KeepReason::AmongLast(1));
    }

    #[test]
    fn match_limits_the_candidates() {
        let rules = Rules::new(None, Some(1), vec![], Some(re("^ci-"))).unwrap();
        let p = decide(&rules, TAGS);
        assert_eq!(deleted(&p), ["ci-1", "ci-2", "ci-3"]);
        assert_eq!(reason(&p, "latest"), &KeepReason::NotMatched);
        // A keep regex still wins inside the matched set.
        let rules = Rules::new(None, Some(1), vec![re("2")], Some(re("^ci-"))).unwrap();
        assert_eq!(deleted(&decide(&rules, TAGS)), ["ci-1", "ci-3"]);
    }

    #[test]
    fn untagged_counts_manifests_that_lose_every_tag() {
        let rules = Rules::new(Some(15 * DAY), None, vec![], None).unwrap();
        // m1: a (old) + b (young); m2: c + d (both old); m3: e (old).
        let p = decide(
            &rules,
            &[
                ("a", 30, 1),
                ("b", 1, 1),
                ("c", 30, 2),
                ("d", 30, 2),
                ("e", 30, 3),
            ],
        );
        let plan = PrunePlan {
            repos: vec![p],
            skipped_repos: 0,
        };
        assert_eq!(plan.delete_count(), 4);
        let untagged: Vec<_> = plan
            .untagged()
            .into_iter()
            .map(|(_, d)| d.clone())
            .collect();
        assert_eq!(untagged, [digest(2), digest(3)]);
    }

    #[test]
    fn tags_without_current_link_are_kept() {
        let rules = Rules::new(Some(Duration::from_secs(1)), None, vec![], None).unwrap();
        // Zero would select every tag: refused.
        let e = Rules::new(Some(Duration::ZERO), None, vec![], None).unwrap_err();
        assert_eq!(
            e,
            "--older-than must be longer than 0 (prune-tags never deletes every tag)"
        );
        let p = rules.decide(
            "r",
            vec![TagState {
                name: "x".into(),
                current: None,
            }],
            SystemTime::now(),
        );
        assert!(p.delete.is_empty());
        assert_eq!(p.kept[0].reason, KeepReason::NoCurrentLink);
        // Whatever --match and --keep say of its name.
        for (keep, matching) in [(vec![], Some("^y")), (vec![Regex::new("x").unwrap()], None)] {
            let rules = Rules::new(
                Some(DAY),
                None,
                keep,
                matching.map(|m| Regex::new(m).unwrap()),
            )
            .unwrap();
            let bare = TagState {
                name: "x".into(),
                current: None,
            };
            let p = rules.decide("r", vec![bare], SystemTime::now());
            assert_eq!(p.kept[0].reason, KeepReason::NoCurrentLink);
        }
    }

    #[test]
    fn policy_files() {
        let p = Policy::from_yaml(
            "rules:\n  - repo: 'team/**'\n    keep_last: 2\n    keep: ['^latest$']\n  - repo: '**'\n    older_than: 30d\n    match: '^ci-'\n",
        )
        .unwrap();
        assert_eq!(p.rules_for("team/app").unwrap().keep_last, Some(2));
        let other = p.rules_for("library/base").unwrap();
        assert_eq!(other.older_than, Some(30 * DAY));
        assert!(other.matching.is_some());

        let p = Policy::from_yaml("rules:\n  - repo: 'team/*'\n    keep_last: 1\n").unwrap();
        assert!(p.rules_for("library/base").is_none(), "no rule, untouched");

        for (yaml, want) in [
            ("rules: []\n", "the policy has no rules"),
            (
                "rules:\n  - repo: a\n    keep: [x]\n",
                "rule 1 (repo \"a\"): no selecting rule: give older_than or keep_last",
            ),
            (
                "rules:\n  - repo: a\n    older-than: 3d\n",
                "unknown field `older-than`",
            ),
            (
                "rules:\n  - repo: a\n    older_than: 3 parsecs\n",
                "rule 1 (repo \"a\"): older_than \"3 parsecs\": not a duration",
            ),
            (
                "rules:\n  - repo: a\n    keep_last: 1\n    keep: ['(']\n",
                "bad regex",
            ),
        ] {
            let e = Policy::from_yaml(yaml).unwrap_err();
            assert!(e.contains(want), "{yaml}: {e}");
        }
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(
            format_age(DAY * 40 + Duration::from_secs(3 * 3600 + 59)),
            "40d3h"
        );
        assert_eq!(format_age(Duration::from_secs(5 * 3600 + 12 * 60)), "5h12m");
        assert_eq!(format_age(Duration::from_secs(200)), "3m20s");
        assert_eq!(format_age(Duration::from_secs(12)), "12s");
    }
}
