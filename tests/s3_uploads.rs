//! `purge-uploads` on S3: incomplete multipart uploads under the store (parts
//! that are billed and that the registry never sees) are aborted once older
//! than `--older-than`, and only those. SeaweedFS, as moto dates every
//! multipart upload 2010-11-10.

mod support;

use support::s3::*;

const LINK: &str = "registry/docker/registry/v2/repositories/a/_layers/sha256/\
    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/link";
const UPLOAD: &str = "registry/docker/registry/v2/repositories/a/_uploads/u1/data";
const OUTSIDE: &str = "elsewhere/big-file";

/// `registry-gc purge-uploads <flags> <config>`, without `REGISTRY_*` variables.
fn purge(config: &std::path::Path, flags: &[&str]) -> (String, String, i32) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_registry-gc"));
    for (k, _) in std::env::vars() {
        if k.starts_with("REGISTRY_") {
            c.env_remove(k);
        }
    }
    c.env_remove("AWS_CA_BUNDLE");
    c.arg("purge-uploads").args(flags).arg(config);
    run_captured(c)
}

#[test]
fn old_multipart_uploads_are_aborted_and_young_ones_kept() {
    let s3 = S3Server::seaweed();
    let endpoint = s3.endpoint();
    s3.create_bucket("reg");
    s3.put(
        "reg",
        LINK,
        b"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    );
    s3tool(&endpoint, &["create-multipart", "reg", UPLOAD], b"");
    s3tool(&endpoint, &["create-multipart", "reg", OUTSIDE], b"");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    config_yml_s3(&config, &endpoint, "reg", "");
    let pending = || s3tool(&endpoint, &["list-multipart", "reg"], b"");
    let both = format!("[\"{OUTSIDE}\", \"{UPLOAD}\"]");

    let (out, err, code) = purge(&config, &["--older-than", "1h"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.ends_with("0 incomplete multipart uploads aborted, 1 younger kept\n"),
        "{out}"
    );
    assert_eq!(pending(), both);

    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (out, err, code) = purge(&config, &["-d", "--older-than", "2s"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("multipart upload repositories/a/_uploads/u1/data (")
            && out.ends_with("1 incomplete multipart upload to abort, 0 younger kept\n"),
        "{out}"
    );
    assert_eq!(pending(), both, "a dry run aborts nothing");

    let (out, err, code) = purge(&config, &["--older-than", "2s"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.ends_with("1 incomplete multipart upload aborted, 0 younger kept\n"),
        "{out}"
    );
    assert!(
        err.contains(
            "aborting multipart upload: /docker/registry/v2/repositories/a/_uploads/u1/data ("
        ),
        "{err}"
    );
    assert_eq!(
        pending(),
        format!("[\"{OUTSIDE}\"]"),
        "only the store's own uploads are aborted"
    );
}
