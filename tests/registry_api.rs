//! Stores written through the registry's HTTP API (what skopeo cannot
//! push): blobs uploaded with a sha512 digest, a manifest used as a layer,
//! OCI referrers pushed by digest. Each is collected by registry-gc and by
//! upstream 2.8.2 on copies of the same store, and checked over HTTP.

mod support;

use sha2::{Digest as _, Sha256, Sha512};
use std::collections::BTreeSet;
use std::process::Command;
use support::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// `curl` against the served registry: (status, body).
fn http(
    served: &Served,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("http://{}{path}", served.addr())
    };
    let mut c = Command::new("curl");
    c.args(["-s", "-X", method, "-o", "-", "-w", "\n%{http_code}"]);
    for h in headers {
        c.args(["-H", h]);
    }
    if !body.is_empty() || method == "PUT" {
        c.args(["--data-binary", "@-"]);
    }
    c.arg(&url).stdin(std::process::Stdio::piped());
    c.stdout(std::process::Stdio::piped());
    let mut child = c.spawn().expect("run curl");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), body).unwrap();
    let out = child.wait_with_output().unwrap();
    let split = out.stdout.iter().rposition(|&b| b == b'\n').unwrap();
    let code = String::from_utf8_lossy(&out.stdout[split + 1..])
        .parse()
        .unwrap();
    (code, out.stdout[..split].to_vec())
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn sha512(b: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(b)))
}

/// Uploads `content` to `repo` in one monolithic PUT under `digest`.
fn upload(served: &Served, repo: &str, content: &[u8], digest: &str) {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-D", "-", "-X", "POST"])
        .arg(format!("http://{}/v2/{repo}/blobs/uploads/", served.addr()))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout);
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .expect("upload location")
        .trim();
    let sep = if location.contains('?') { '&' } else { '?' };
    let (code, body) = http(
        served,
        "PUT",
        &format!("{location}{sep}digest={digest}"),
        &["Content-Type: application/octet-stream"],
        content,
    );
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
}

/// PUTs an OCI manifest to `repo` under `reference` (a tag or its digest).
fn put_manifest(served: &Served, repo: &str, reference: &str, manifest: &str) {
    let (code, body) = http(
        served,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[&format!("Content-Type: {OCI_MANIFEST}")],
        manifest.as_bytes(),
    );
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
}

fn descriptor(media_type: &str, digest: &str, size: usize) -> String {
    format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}"#)
}

/// An OCI manifest over `config` and `layers` (descriptors), with an
/// optional `subject` descriptor.
fn manifest(config: &str, layers: &[String], subject: Option<&str>) -> String {
    let subject = subject
        .map(|s| format!(r#","subject":{s}"#))
        .unwrap_or_default();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[{}]{subject}}}"#,
        layers.join(",")
    )
}

/// Uploads a config and one layer per entry (sha256), pushes the manifest
/// under `reference` (its digest when `None`) and returns its bytes.
fn push_image(
    served: &Served,
    repo: &str,
    reference: Option<&str>,
    layers: &[&str],
    subject: Option<&str>,
) -> String {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","layers":{:?}}}"#,
        layers.join(" ")
    );
    upload(served, repo, config.as_bytes(), &sha256(config.as_bytes()));
    let layers: Vec<String> = layers
        .iter()
        .map(|l| {
            upload(served, repo, l.as_bytes(), &sha256(l.as_bytes()));
            descriptor(OCI_LAYER, &sha256(l.as_bytes()), l.len())
        })
        .collect();
    let config = descriptor(OCI_CONFIG, &sha256(config.as_bytes()), config.len());
    let m = manifest(&config, &layers, subject);
    let reference = reference.map_or_else(|| sha256(m.as_bytes()), str::to_string);
    put_manifest(served, repo, &reference, &m);
    m
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The blob and `_manifests` files (what both collectors delete alike).
fn blobs_and_manifests(store: &Store) -> BTreeSet<String> {
    store
        .files()
        .into_iter()
        .filter(|f| f.contains("/blobs/") || f.contains("/_manifests/"))
        .collect()
}

/// `inventory` predicts what a dry run with and without `-m` would free
/// on `store`.
fn assert_inventory_matches(store: &Store) {
    let out = Command::new(env!("CARGO_BIN_EXE_registry-gc"))
        .args(["inventory", "--format", "json"])
        .arg(&store.config)
        .output()
        .unwrap();
    let inv: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let eligible = |flags: &[&str]| {
        let args = [flags, &["--report", "-"]].concat();
        let report: serde_json::Value = serde_json::from_str(&ok(&run_ours(store, &args))).unwrap();
        report["bytes"]["eligible"].as_u64().unwrap()
    };
    let store_totals = &inv["store"];
    let orphan = store_totals["orphan_bytes"].as_u64().unwrap();
    let untagged = store_totals["untagged_only_bytes"].as_u64().unwrap();
    assert_eq!(eligible(&["-d"]), orphan);
    assert_eq!(eligible(&["-dm"]), orphan + untagged);
}

fn blob_status(served: &Served, repo: &str, digest: &str) -> u16 {
    http(
        served,
        "GET",
        &format!("/v2/{repo}/blobs/{digest}"),
        &[],
        b"",
    )
    .0
}

#[test]
fn sha512_uploads_stay_served_after_collection() {
    let store = empty_store();
    let layer = "a layer uploaded with a sha512 digest";
    let orphan = "a sha512 upload no manifest references";
    let config = r#"{"architecture":"amd64","os":"linux"}"#;
    let (l512, o512) = (sha512(layer.as_bytes()), sha512(orphan.as_bytes()));
    {
        let served = store.serve();
        upload(&served, "r", layer.as_bytes(), &l512);
        upload(&served, "r", orphan.as_bytes(), &o512);
        upload(&served, "r", config.as_bytes(), &sha256(config.as_bytes()));
        let m = manifest(
            &descriptor(OCI_CONFIG, &sha256(config.as_bytes()), config.len()),
            &[descriptor(OCI_LAYER, &l512, layer.len())],
            None,
        );
        put_manifest(&served, "r", "t1", &m);
        assert_eq!(blob_status(&served, "r", &l512), 200);
    }
    // What the registry wrote: the data under its sha256 digest, and an
    // alias link naming it.
    let alias = |d: &str| {
        store
            .repo("r")
            .join("_layers/sha512")
            .join(d.trim_start_matches("sha512:"))
            .join("link")
    };
    assert_eq!(
        std::fs::read_to_string(alias(&l512)).unwrap(),
        sha256(layer.as_bytes())
    );
    assert!(store.blob_data(&sha256(layer.as_bytes())).exists());

    assert_inventory_matches(&store);
    let theirs = [store_copy(&store), store_copy(&store)];
    for flags in [&[][..], &["-m"]] {
        let out = ok(&run_ours(&store, flags));
        assert!(
            !out.contains(&format!(
                "blob eligible for deletion: {}",
                sha256(layer.as_bytes())
            )),
            "{out}"
        );
        let served = store.serve();
        let (code, body) = http(&served, "GET", &format!("/v2/r/blobs/{l512}"), &[], b"");
        assert_eq!((code, body), (200, layer.as_bytes().to_vec()), "{flags:?}");
        assert_eq!(blob_status(&served, "r", &o512), 404, "the orphan is swept");
    }
    assert!(alias(&l512).exists(), "a kept blob's alias link stays");
    assert!(!alias(&o512).exists(), "a swept blob's alias link goes");

    // Upstream sweeps the stored blob: the tagged image can no longer be
    // pulled (a deliberate difference).
    for (theirs, flags) in theirs.iter().zip([&[][..], &["-m"]]) {
        assert!(run_oracle(theirs, flags).status.success());
        let served = theirs.serve();
        assert_eq!(blob_status(&served, "r", &l512), 404, "{flags:?}");
    }
}

#[test]
fn a_manifest_used_as_a_layer_is_a_blob() {
    let store = empty_store();
    let (inner, outer);
    {
        let served = store.serve();
        // M: an untagged manifest with its own config and layer ...
        inner = push_image(&served, "r", None, &["M's own layer"], None);
        // ... whose bytes an image tagged `t` uses as a layer.
        upload(&served, "r", inner.as_bytes(), &sha256(inner.as_bytes()));
        let config = r#"{"architecture":"amd64","os":"linux","outer":1}"#;
        upload(&served, "r", config.as_bytes(), &sha256(config.as_bytes()));
        outer = manifest(
            &descriptor(OCI_CONFIG, &sha256(config.as_bytes()), config.len()),
            &[descriptor(
                OCI_LAYER,
                &sha256(inner.as_bytes()),
                inner.len(),
            )],
            None,
        );
        put_manifest(&served, "r", "t", &outer);
        // And an image pushed with skopeo, pulled after the run too.
        let dir = tempfile::tempdir().unwrap();
        oci::write_image(dir.path(), "v1", &["plain"]);
        let src = format!("oci:{}:v1", dir.path().display());
        served.push(&src, "pulled/image:v1").unwrap();
    }
    assert_inventory_matches(&store);
    let theirs = store_copy(&store);
    let before = blobs_and_manifests(&store);
    let ours_out = ok(&run_ours(&store, &["-m"]));
    let theirs_out = ok(&run_oracle(&theirs, &["-m"]));
    assert_eq!(
        eligible_blobs(&ours_out),
        eligible_blobs(&theirs_out),
        "ours:\n{ours_out}\ntheirs:\n{theirs_out}"
    );
    assert_eq!(blobs_and_manifests(&store), blobs_and_manifests(&theirs));
    let gone: BTreeSet<String> = before
        .difference(&blobs_and_manifests(&store))
        .cloned()
        .collect();
    let m = sha256(inner.as_bytes());
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    assert!(gone
        .iter()
        .any(|f| f.contains(&format!("revisions/sha256/{}", hex(&m)))));
    assert!(gone
        .iter()
        .any(|f| f.contains(&hex(&sha256(b"M's own layer")))));
    assert!(store.blob_data(&m).exists(), "M's blob is T's layer");
    let served = store.serve();
    for tag in ["r:t", "pulled/image:v1"] {
        served.pull(tag).unwrap_or_else(|e| panic!("{tag}: {e}"));
    }
    let _ = outer;
}

#[test]
fn referrers_go_with_delete_untagged_unless_kept() {
    let store = empty_store();
    let (signed, sig, sig_of_sig, untagged, sig_of_untagged);
    {
        let served = store.serve();
        let subject = |m: &str| descriptor(OCI_MANIFEST, &sha256(m.as_bytes()), m.len());
        signed = push_image(&served, "r", Some("v1"), &["signed image layer"], None);
        sig = push_image(&served, "r", None, &["signature"], Some(&subject(&signed)));
        sig_of_sig = push_image(
            &served,
            "r",
            None,
            &["countersignature"],
            Some(&subject(&sig)),
        );
        untagged = push_image(&served, "r", None, &["untagged image layer"], None);
        sig_of_untagged = push_image(
            &served,
            "r",
            None,
            &["orphan signature"],
            Some(&subject(&untagged)),
        );
    }
    let digest = |m: &String| sha256(m.as_bytes());
    let with_flag = store_copy(&store);
    let theirs = store_copy(&store);

    // Without --keep-referrers: as upstream, every untagged referrer goes.
    let ours_out = ok(&run_ours(&store, &["-m"]));
    let theirs_out = ok(&run_oracle(&theirs, &["-m"]));
    assert_eq!(summary_counts(&ours_out), summary_counts(&theirs_out));
    assert_eq!(eligible_blobs(&ours_out), eligible_blobs(&theirs_out));
    assert_eq!(blobs_and_manifests(&store), blobs_and_manifests(&theirs));
    for m in [&sig, &sig_of_sig, &untagged, &sig_of_untagged] {
        assert!(!store.blob_data(&digest(m)).exists());
    }

    // With it: the signature and its countersignature stay (and are
    // served), the referrer of an untagged manifest goes with it.
    let dry = ok(&run_ours(&with_flag, &["-dm", "--keep-referrers"]));
    let mut eligible: Vec<String> = eligible_manifests(&dry);
    eligible.sort();
    let line = |m: &String| format!("{{r {} [v1]}}", digest(m));
    let mut expected = vec![line(&untagged), line(&sig_of_untagged)];
    expected.sort();
    assert_eq!(eligible, expected, "{dry}");
    let report = ok(&run_ours(
        &with_flag,
        &["-dm", "--keep-referrers", "--report", "-"],
    ));
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["mode"]["keep_referrers"], true);
    assert_eq!(report["counts"]["manifests_eligible"], 2);
    ok(&run_ours(&with_flag, &["-m", "--keep-referrers"]));
    let served = with_flag.serve();
    for (m, layer) in [(&sig, "signature"), (&sig_of_sig, "countersignature")] {
        let (code, body) = http(
            &served,
            "GET",
            &format!("/v2/r/manifests/{}", digest(m)),
            &[&format!("Accept: {OCI_MANIFEST}")],
            b"",
        );
        assert_eq!((code, body), (200, m.as_bytes().to_vec()));
        assert_eq!(blob_status(&served, "r", &sha256(layer.as_bytes())), 200);
    }
    for m in [&untagged, &sig_of_untagged] {
        assert!(!with_flag.blob_data(&digest(m)).exists());
    }
    served.pull("r:v1").unwrap();
}
