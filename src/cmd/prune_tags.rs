//! `registry-gc prune-tags`.

use regex::Regex;
use registry_gc::inventory::Glob;
use registry_gc::metrics::RunMetrics;
use registry_gc::plan::Phase;
use registry_gc::prune::{self, Policy, PruneError, PrunePlan, Rules};
use registry_gc::units::plural;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

const USAGE: &str = "registry-gc prune-tags [OPTIONS] [CONFIG]";
/// Exit code after SIGINT/SIGTERM stopped the run (128 + SIGINT).
const INTERRUPTED: u8 = 130;

const RULES: &str = "\
Rules, per repository:
  1. only tags matching --match are considered (all tags without it);
  2. a tag matching any --keep regex is kept, whatever else applies;
  3. the others are ranked by push time (mtime of current/link, newest first;
     equal times by name, ascending, so of a and b pushed at once a ranks
     first); --keep-last N keeps the first N of them;
  4. the rest are deleted; with --older-than, only those pushed longer ago
     (so --keep-last is a floor under --older-than).
Regexes match anywhere in the tag unless anchored (^latest$). --older-than or
--keep-last is required. Deleting a tag removes only its directory: other tags
on the same manifest stay; garbage-collect -m then reclaims the manifests
left untagged.

Policy file (--policy), first matching repository glob wins, repositories
matching no rule are left alone:
  rules:
    - repo: 'team/**'
      older_than: 30d
      keep_last: 10
      keep: ['^latest$', '^v[0-9]']
      match: '^ci-'";

/// Flags of `prune-tags`.
#[derive(clap::Args)]
#[command(after_help = RULES)]
pub struct Args {
    /// print the tags that would be deleted; change nothing
    #[arg(short = 'd', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = super::go_bool)]
    dry_run: bool,
    /// also list the tags kept and why, and the manifests left untagged
    #[arg(short = 'v', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = super::go_bool)]
    verbose: bool,
    /// delete tags pushed longer ago than this (e.g. 36h, 30d, 2w)
    #[arg(long, value_name = "DURATION", value_parser = registry_gc::units::parse_duration)]
    older_than: Option<Duration>,
    /// keep the N most recently pushed tags of each repository
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    keep_last: Option<u32>,
    /// always keep tags matching this regex (repeatable)
    #[arg(long, value_name = "REGEX", value_parser = prune::parse_regex)]
    keep: Vec<Regex>,
    /// consider only tags matching this regex
    #[arg(long = "match", value_name = "REGEX", value_parser = prune::parse_regex)]
    matching: Option<Regex>,
    /// only repositories matching this glob (repeatable; * stays within one
    /// path component, ** spans several: team/*, team/**)
    #[arg(long, value_name = "GLOB")]
    repo: Vec<String>,
    /// per-repository rules from a YAML file (instead of the rule flags)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["older_than", "keep_last", "keep", "matching"])]
    policy: Option<PathBuf>,
    /// write Prometheus metrics of the run to this file (node_exporter's
    /// textfile format, replaced atomically; written on failure too)
    #[arg(long, value_name = "PATH")]
    metrics_file: Option<PathBuf>,
    /// the registry's config.yml (default: $REGISTRY_CONFIGURATION_PATH)
    config: Option<PathBuf>,
}

/// Plans the tag deletions, prints them and, in a real run, applies them.
pub fn run(args: &Args) -> ExitCode {
    super::with_metrics(
        args.metrics_file.as_deref(),
        "prune-tags",
        args.dry_run,
        "failed to prune tags",
        |metrics| match policy(args) {
            Ok(policy) => prune(args, &policy, metrics),
            Err(code) => code,
        },
    )
}

/// The rules: the policy file, or the rule flags. On error prints it and
/// returns the exit code.
fn policy(args: &Args) -> Result<Policy, ExitCode> {
    match &args.policy {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| registry_gc::error::os_message(&e))
            .and_then(|text| Policy::from_yaml(&text))
            .map_err(|e| fail(&format!("policy error: {e} (in {})", path.display()))),
        None => {
            let keep_last = args.keep_last.map(|n| n as usize);
            Rules::new(
                args.older_than,
                keep_last,
                args.keep.clone(),
                args.matching.clone(),
            )
            .map(Policy::all)
            .map_err(|e| {
                eprintln!("error: refusing to run: {e}\n\nUsage: {USAGE}\n\nFor more information, try '--help'.");
                ExitCode::from(2)
            })
        }
    }
}

fn prune(args: &Args, policy: &Policy, metrics: &mut RunMetrics) -> ExitCode {
    let opened = match super::open_store(
        args.config.as_deref(),
        args.dry_run,
        "failed to prune tags",
        registry_gc::store::DEFAULT_IN_FLIGHT,
    ) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let layout = &opened.layout;
    let repos: Vec<Glob> = args.repo.iter().map(|g| Glob::new(g)).collect();
    let (plan, phase) = Phase::time("plan", || {
        prune::plan(layout, policy, &repos, SystemTime::now())
    });
    metrics.phase(phase.name, phase.duration);
    let plan = match plan {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    metrics.record_prune(&plan, None);
    let done = if args.dry_run {
        plan
    } else {
        let (done, phase) = Phase::time("delete", || prune::apply(layout, &plan));
        metrics.phase(phase.name, phase.duration);
        match done {
            Ok(done) => {
                metrics.record_prune(&plan, Some(&done));
                done
            }
            Err(PruneError::Interrupted) => {
                eprintln!("interrupted: run again to finish");
                return ExitCode::from(INTERRUPTED);
            }
            Err(e) => return fail(&e.to_string()),
        }
    };
    let mut out = BufWriter::new(io::stdout().lock());
    match write_report(&done, args, &mut out).and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            fail(&format!("failed to write output: {e}"))
        }
        _ => ExitCode::SUCCESS,
    }
}

fn write_report(plan: &PrunePlan, args: &Args, out: &mut impl Write) -> io::Result<()> {
    let what = if args.dry_run {
        "eligible for deletion"
    } else {
        "deleted"
    };
    for r in &plan.repos {
        for t in &r.delete {
            let age = prune::format_age(t.age);
            writeln!(out, "{}:{} {what}, pushed {age} ago", r.repo, t.tag)?;
        }
        if args.verbose {
            for t in &r.kept {
                writeln!(out, "{}:{} kept: {}", r.repo, t.tag, t.reason)?;
            }
        }
    }
    let untagged = plan.untagged();
    if args.verbose {
        for (repo, digest) in &untagged {
            writeln!(out, "manifest left untagged: {repo}@{digest}")?;
        }
    }
    let tags = plural(plan.delete_count() as u64, "tag");
    let repos = plural(plan.repos_touched() as u64, "repository");
    let kept = plan.kept_count();
    let them = if untagged.len() == 1 { "it" } else { "them" };
    let left = match (untagged.len(), args.dry_run) {
        (0, _) => "no manifest is left untagged".to_string(),
        (n, true) => format!(
            "{} would be left untagged: `registry-gc garbage-collect -m` reclaims {them}",
            plural(n as u64, "manifest")
        ),
        (n, false) => format!(
            "{} left untagged: `registry-gc garbage-collect -m` reclaims {them}",
            plural(n as u64, "manifest")
        ),
    };
    writeln!(out, "{tags} {what} in {repos}, {kept} kept; {left}")
}

fn fail(message: &str) -> ExitCode {
    eprintln!("failed to prune tags: {message}");
    ExitCode::FAILURE
}
