//! The text that upstream's collector prints on stdout (v3.1 line formats),
//! in a deterministic order.

use crate::plan::Plan;
use std::collections::HashSet;
use std::io::{self, Write};

/// Writes the plan as upstream's lines: each repository with its
/// `marking` lines (a blob only the first time it is marked in walk
/// order), the `-m` eligible manifests, a blank line, the summary, the
/// eligible blobs sorted by digest and the layer links to delete. With a
/// grace period, a line after the summary counts what it kept.
pub fn write_text(plan: &Plan, out: &mut impl Write) -> io::Result<()> {
    let mut printed = HashSet::new();
    for repo in &plan.repos {
        writeln!(out, "{}", repo.name)?;
        for root in &repo.roots {
            writeln!(out, "{}: marking manifest {} ", repo.name, root.digest)?;
            printed.insert(&root.digest);
            for d in &root.reached {
                if printed.insert(d) {
                    writeln!(out, "{}: marking blob {d}", repo.name)?;
                }
            }
        }
    }
    for repo in &plan.repos {
        for m in &repo.manifests {
            writeln!(
                out,
                "manifest eligible for deletion: {{{} {} [{}]}}",
                repo.name,
                m.digest,
                repo.tags.join(" ")
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} blobs marked, {} blobs and {} manifests eligible for deletion",
        plan.marked,
        plan.blobs.len(),
        plan.manifest_count()
    )?;
    if let Some(grace) = plan.options.grace_period {
        writeln!(
            out,
            "{} blobs and {} manifests kept because younger than the grace period ({})",
            plan.young_blobs.len(),
            plan.young_manifests,
            humantime::format_duration(grace)
        )?;
    }
    for b in &plan.blobs {
        writeln!(out, "blob eligible for deletion: {}", b.digest)?;
    }
    for repo in &plan.repos {
        for d in &repo.layer_links {
            writeln!(out, "{}: layer link eligible for deletion: {d}", repo.name)?;
        }
    }
    Ok(())
}
