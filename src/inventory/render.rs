//! The three output formats of `inventory`: an aligned table, one JSON
//! document (see `docs/inventory-schema.md`) and CSV.

use super::{Inventory, RepoInventory, Tag, Usage};
use crate::units::{human_bytes, plural};
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

/// Version of the JSON document's shape (`schema_version`).
const SCHEMA_VERSION: u64 = 1;

fn rfc3339(t: Option<SystemTime>) -> Option<String> {
    t.map(|t| humantime::format_rfc3339_seconds(t).to_string())
}

/// Writes rows with columns padded to their widest cell; the first
/// column is left-aligned (and so are those in `left`), the others right.
fn aligned(rows: &[Vec<String>], left: &[usize], out: &mut impl Write) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            let cells = rows.iter().filter_map(|r| r.get(c));
            cells.map(|s| s.chars().count()).max().unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c == 0 || left.contains(&c) {
                line.push_str(cell);
                line.push_str(&pad);
            } else {
                line.push_str(&pad);
                line.push_str(cell);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The table: one row per repository, the store totals, and with `tags`
/// one row per tag.
pub fn write_table(inv: &Inventory, tags: bool, out: &mut impl Write) -> io::Result<()> {
    let header = [
        "REPOSITORY",
        "TAGS",
        "MANIFESTS",
        "TAGGED",
        "UNTAGGED",
        "BLOBS",
        "REFERENCED",
        "UNIQUE",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for r in &inv.repos {
        rows.push(vec![
            r.name.clone(),
            r.tag_count.to_string(),
            (r.tagged_manifests + r.untagged_manifests).to_string(),
            r.tagged_manifests.to_string(),
            r.untagged_manifests.to_string(),
            r.referenced.blobs.to_string(),
            human_bytes(r.referenced.bytes),
            human_bytes(r.unique.bytes),
        ]);
    }
    aligned(&rows, &[], out)?;
    writeln!(out)?;

    let s = &inv.store;
    let line = |what: &str, u: Usage, note: &str| {
        let cells = [what, &u.blobs.to_string(), &human_bytes(u.bytes), note];
        cells.map(String::from).to_vec()
    };
    let mut totals = vec![
        ["STORE", "BLOBS", "BYTES", ""].map(String::from).to_vec(),
        line("total", s.total, ""),
        line("referenced by tagged images", s.tagged, ""),
        line(
            "held only by untagged manifests",
            s.untagged_only,
            "garbage-collect -m frees these",
        ),
        line("orphaned", s.orphan, "garbage-collect frees these"),
    ];
    if s.missing_blobs > 0 {
        let missing = s.missing_blobs.to_string();
        let cells = ["referenced but missing", &missing, "-", ""];
        totals.push(cells.map(String::from).to_vec());
    }
    writeln!(
        out,
        "{} in the store",
        plural(s.repositories as u64, "repository")
    )?;
    aligned(&totals, &[3], out)?;

    if tags {
        writeln!(out)?;
        let header = ["REPOSITORY", "TAG", "DIGEST", "PUSHED", "SIZE"];
        let mut rows = vec![header.map(String::from).to_vec()];
        for (repo, t) in tag_rows(inv) {
            let digest = t.digest.as_ref().map(|d| {
                let hex = d.hex();
                format!("{}:{}", d.algorithm().name(), &hex[..12])
            });
            rows.push(vec![
                repo.name.clone(),
                t.name.clone(),
                digest.unwrap_or_else(|| "-".into()),
                rfc3339(t.pushed).unwrap_or_else(|| "-".into()),
                t.bytes.map(human_bytes).unwrap_or_else(|| "-".into()),
            ]);
        }
        aligned(&rows, &[1, 2, 3], out)?;
    }
    Ok(())
}

fn tag_rows(inv: &Inventory) -> impl Iterator<Item = (&RepoInventory, &Tag)> {
    inv.repos
        .iter()
        .flat_map(|r| r.tags.iter().map(move |t| (r, t)))
}

#[derive(Serialize)]
struct JsonDocument<'a> {
    schema_version: u64,
    root: String,
    store: JsonStore,
    repositories: Vec<JsonRepo<'a>>,
}

#[derive(Serialize)]
struct JsonStore {
    repositories: usize,
    blobs: u64,
    bytes: u64,
    tagged_blobs: u64,
    tagged_bytes: u64,
    untagged_only_blobs: u64,
    untagged_only_bytes: u64,
    orphan_blobs: u64,
    orphan_bytes: u64,
    missing_blobs: u64,
}

#[derive(Serialize)]
struct JsonRepo<'a> {
    name: &'a str,
    tag_count: usize,
    manifests: usize,
    tagged_manifests: usize,
    untagged_manifests: usize,
    blobs: u64,
    bytes: u64,
    unique_blobs: u64,
    unique_bytes: u64,
    tagged_blobs: u64,
    tagged_bytes: u64,
    missing_blobs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<JsonTag<'a>>>,
}

#[derive(Serialize)]
struct JsonTag<'a> {
    name: &'a str,
    digest: Option<String>,
    pushed: Option<String>,
    bytes: Option<u64>,
}

fn json_repo(r: &RepoInventory, tags: bool) -> JsonRepo<'_> {
    JsonRepo {
        name: &r.name,
        tag_count: r.tag_count,
        manifests: r.tagged_manifests + r.untagged_manifests,
        tagged_manifests: r.tagged_manifests,
        untagged_manifests: r.untagged_manifests,
        blobs: r.referenced.blobs,
        bytes: r.referenced.bytes,
        unique_blobs: r.unique.blobs,
        unique_bytes: r.unique.bytes,
        tagged_blobs: r.tagged.blobs,
        tagged_bytes: r.tagged.bytes,
        missing_blobs: r.missing_blobs,
        tags: tags.then(|| r.tags.iter().map(json_tag).collect()),
    }
}

fn json_tag(t: &Tag) -> JsonTag<'_> {
    JsonTag {
        name: &t.name,
        digest: t.digest.as_ref().map(|d| d.to_string()),
        pushed: rfc3339(t.pushed),
        bytes: t.bytes,
    }
}

/// The JSON document described in `docs/inventory-schema.md`; each
/// repository has a `tags` array only when `tags` is set.
pub fn write_json(
    inv: &Inventory,
    root: &Path,
    tags: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    let s = &inv.store;
    let doc = JsonDocument {
        schema_version: SCHEMA_VERSION,
        root: root.display().to_string(),
        store: JsonStore {
            repositories: s.repositories,
            blobs: s.total.blobs,
            bytes: s.total.bytes,
            tagged_blobs: s.tagged.blobs,
            tagged_bytes: s.tagged.bytes,
            untagged_only_blobs: s.untagged_only.blobs,
            untagged_only_bytes: s.untagged_only.bytes,
            orphan_blobs: s.orphan.blobs,
            orphan_bytes: s.orphan.bytes,
            missing_blobs: s.missing_blobs,
        },
        repositories: inv.repos.iter().map(|r| json_repo(r, tags)).collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV with a header: one row per repository, or with `tags` one row per tag.
pub fn write_csv(inv: &Inventory, tags: bool, out: &mut impl Write) -> io::Result<()> {
    if tags {
        writeln!(out, "repository,tag,digest,pushed,bytes")?;
        for (repo, t) in tag_rows(inv) {
            let cells = [
                csv_field(&repo.name),
                csv_field(&t.name),
                t.digest.as_ref().map(|d| d.to_string()).unwrap_or_default(),
                rfc3339(t.pushed).unwrap_or_default(),
                t.bytes.map(|b| b.to_string()).unwrap_or_default(),
            ];
            writeln!(out, "{}", cells.join(","))?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "repository,tags,manifests,tagged_manifests,untagged_manifests,blobs,bytes,unique_blobs,unique_bytes,tagged_blobs,tagged_bytes,missing_blobs"
    )?;
    for r in &inv.repos {
        let numbers = [
            r.tag_count as u64,
            (r.tagged_manifests + r.untagged_manifests) as u64,
            r.tagged_manifests as u64,
            r.untagged_manifests as u64,
            r.referenced.blobs,
            r.referenced.bytes,
            r.unique.blobs,
            r.unique.bytes,
            r.tagged.blobs,
            r.tagged.bytes,
            r.missing_blobs,
        ];
        let numbers: Vec<String> = numbers.iter().map(u64::to_string).collect();
        writeln!(out, "{},{}", csv_field(&r.name), numbers.join(","))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{StoreTotals, Tag};
    use super::*;
    use crate::digest::Digest;
    use serde_json::Value;
    use std::time::{Duration, UNIX_EPOCH};

    fn sample() -> Inventory {
        let repo = |name: &str, bytes: u64, tags: Vec<Tag>| RepoInventory {
            name: name.into(),
            tag_count: tags.len(),
            tagged_manifests: 2,
            untagged_manifests: 1,
            referenced: Usage { blobs: 7, bytes },
            unique: Usage {
                blobs: 3,
                bytes: bytes / 2,
            },
            tagged: Usage {
                blobs: 5,
                bytes: bytes - 10,
            },
            missing_blobs: 0,
            tags,
        };
        let tag = Tag {
            name: "v1,beta".into(),
            digest: Some(Digest::sha256_of(b"m")),
            pushed: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            bytes: Some(2048),
        };
        let broken = Tag {
            name: "gone".into(),
            digest: None,
            pushed: None,
            bytes: None,
        };
        Inventory {
            repos: vec![
                repo("team/app/api", 13 << 20, vec![tag, broken]),
                repo("a", 900, Vec::new()),
            ],
            store: StoreTotals {
                repositories: 3,
                total: Usage {
                    blobs: 20,
                    bytes: 20 << 20,
                },
                tagged: Usage {
                    blobs: 10,
                    bytes: 12 << 20,
                },
                untagged_only: Usage {
                    blobs: 4,
                    bytes: 1 << 20,
                },
                orphan: Usage {
                    blobs: 6,
                    bytes: 7 << 20,
                },
                missing_blobs: 2,
            },
            faults: Vec::new(),
        }
    }

    fn text(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_is_aligned() {
        let got = text(|o| write_table(&sample(), true, o));
        let want = "\
REPOSITORY    TAGS  MANIFESTS  TAGGED  UNTAGGED  BLOBS  REFERENCED   UNIQUE
team/app/api     2          3       2         1      7    13.0 MiB  6.5 MiB
a                0          3       2         1      7       900 B    450 B

3 repositories in the store
STORE                            BLOBS     BYTES
total                               20  20.0 MiB
referenced by tagged images         10  12.0 MiB
held only by untagged manifests      4   1.0 MiB  garbage-collect -m frees these
orphaned                             6   7.0 MiB  garbage-collect frees these
referenced but missing               2         -

REPOSITORY    TAG      DIGEST               PUSHED                   SIZE
team/app/api  v1,beta  sha256:62c66a7a5dd7  2023-11-14T22:13:20Z  2.0 KiB
team/app/api  gone     -                    -                           -
";
        assert_eq!(got, want);
    }

    #[test]
    fn csv_rows_and_quoting() {
        let got = text(|o| write_csv(&sample(), false, o));
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("repository,tags,manifests,"));
        assert_eq!(lines[2], "a,0,3,2,1,7,900,3,450,5,890,0");
        let got = text(|o| write_csv(&sample(), true, o));
        let d = Digest::sha256_of(b"m");
        assert_eq!(
            got,
            format!(
                "repository,tag,digest,pushed,bytes\nteam/app/api,\"v1,beta\",{d},2023-11-14T22:13:20Z,2048\nteam/app/api,gone,,,\n"
            )
        );
    }

    #[test]
    fn json_document() {
        let got = text(|o| write_json(&sample(), Path::new("/srv/registry"), true, o));
        let v: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["root"], "/srv/registry");
        assert_eq!(v["store"]["orphan_bytes"], 7 << 20);
        assert_eq!(v["store"]["untagged_only_blobs"], 4);
        let api = &v["repositories"][0];
        assert_eq!(
            (api["name"].as_str(), api["manifests"].as_u64()),
            (Some("team/app/api"), Some(3))
        );
        assert_eq!(api["tags"][0]["pushed"], "2023-11-14T22:13:20Z");
        assert_eq!(api["tags"][1]["digest"], Value::Null);
        let got = text(|o| write_json(&sample(), Path::new("/r"), false, o));
        let v: Value = serde_json::from_str(&got).unwrap();
        assert!(v["repositories"][0].get("tags").is_none());
    }
}
