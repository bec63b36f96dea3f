//! Writes small OCI image layouts for skopeo to push (`oci:DIR:tag`).

use sha2::{Digest as _, Sha256};
use std::fs;
use std::path::Path;

fn put_blob(dir: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = hex::encode(Sha256::digest(bytes));
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(blobs.join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

/// A one-platform image with an uncompressed layer per entry of `layers`
/// (their content), written as an OCI layout at `dir` with ref name `tag`.
pub fn write_image(dir: &Path, tag: &str, layers: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let layer_descs: Vec<(String, usize)> =
        layers.iter().map(|c| put_blob(dir, &tar_of(c))).collect();
    let diff_ids: Vec<String> = layer_descs
        .iter()
        .map(|(d, _)| format!("\"{d}\""))
        .collect();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let (config_digest, config_size) = put_blob(dir, config.as_bytes());
    let layer_json: Vec<String> = layer_descs
        .iter()
        .map(|(d, s)| format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{d}","size":{s}}}"#))
        .collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{}]}}"#,
        layer_json.join(",")
    );
    let (m_digest, m_size) = put_blob(dir, manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{m_digest}","size":{m_size},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#
    );
    fs::write(dir.join("index.json"), index).unwrap();
}

/// A minimal POSIX tar holding one file `f` with `content`.
fn tar_of(content: &str) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..1].copy_from_slice(b"f");
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    header[124..135].copy_from_slice(format!("{:011o}", content.len()).as_bytes());
    header[136..147].copy_from_slice(b"00000000000");
    header[156] = b'0';
    header[257..262].copy_from_slice(b"ustar");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content.as_bytes());
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}
