//! Reads the references out of a manifest, per schema version and media type,
//! as upstream's manifest store does.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};

/// Docker schema2 image manifest.
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The registry refuses manifests larger than this on push; a bigger blob
/// named by a revision link is not a manifest we can trust.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// What kind of manifest it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Kind {
    /// Schema1: references are `fsLayers[].blobSum`.
    Schema1,
    /// Schema2 or OCI image: config, then layers.
    Image,
    /// Manifest list or image index: child manifests.
    Index,
}

/// What a reference is to the manifest that makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Role {
    /// An image's config blob.
    Config,
    /// An image's layer (or a schema1 `fsLayers` entry).
    Layer,
    /// A manifest of a list or index.
    Child,
}

/// A parsed manifest: its kind and the digests it references, in order.
/// Immutable for its digest, so the mark cache keeps it between runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) kind: Kind,
    /// `mediaType` as written (empty when absent, as in schema1).
    pub(crate) media_type: String,
    pub(crate) references: Vec<Digest>,
    /// The role of each of `references`, in the same order.
    pub(crate) roles: Vec<Role>,
    /// The OCI 1.1 `subject` digest, as written (a referrer: signature,
    /// SBOM, attestation). Not a reference: upstream ignores it.
    pub(crate) subject: Option<String>,
}

impl Manifest {
    /// The references that are manifests to follow: the children of a
    /// manifest list or image index. A config or layer is a blob, even when
    /// its content is a manifest (upstream 2.8.2 and v3.1 agree).
    pub(crate) fn children(&self) -> &[Digest] {
        match self.kind {
            Kind::Index => &self.references,
            Kind::Schema1 | Kind::Image => &[],
        }
    }
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion", default)]
    schema_version: i64,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(rename = "fsLayers", default)]
    fs_layers: Option<Vec<FsLayer>>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(default)]
    digest: String,
}

#[derive(Deserialize)]
struct FsLayer {
    #[serde(rename = "blobSum", default)]
    blob_sum: String,
}

/// Parses manifest bytes. Errors use upstream's wording where it has one
/// (`unrecognized manifest schema version 3`, `errors verifying manifest:
/// unrecognized manifest content type ...`); JSON errors are serde's.
pub(crate) fn parse(content: &[u8]) -> Result<Manifest, String> {
    // serde would take a JSON array for a struct; Go (and we) want an object.
    let first = content.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(content).is_ok()
    {
        return Err("manifest is not a JSON object".into());
    }
    let raw: Raw = serde_json::from_slice(content).map_err(|e| e.to_string())?;
    let media_type = raw.media_type.as_deref().unwrap_or("");
    let (kind, refs): (Kind, Vec<(Role, &str)>) = match raw.schema_version {
        1 => (
            Kind::Schema1,
            raw.fs_layers
                .iter()
                .flatten()
                .map(|l| (Role::Layer, l.blob_sum.as_str()))
                .collect(),
        ),
        2 => match media_type {
            DOCKER_MANIFEST | OCI_MANIFEST => (Kind::Image, image_refs(&raw)),
            DOCKER_LIST | OCI_INDEX => (Kind::Index, index_refs(&raw)),
            "" if raw.manifests.is_some() => (Kind::Index, index_refs(&raw)),
            "" => (Kind::Image, image_refs(&raw)),
            other => {
                return Err(format!(
                    "errors verifying manifest: unrecognized manifest content type {other}"
                ))
            }
        },
        n => return Err(format!("unrecognized manifest schema version {n}")),
    };
    let references = refs
        .iter()
        .map(|(_, s)| Digest::parse(s).map_err(|e| format!("reference {s:?}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(Manifest {
        kind,
        media_type: media_type.to_string(),
        references,
        roles: refs.iter().map(|(role, _)| *role).collect(),
        subject: raw.subject.map(|d| d.digest),
    })
}

fn image_refs(raw: &Raw) -> Vec<(Role, &str)> {
    let config = raw.config.iter().map(|d| (Role::Config, d.digest.as_str()));
    let layers = raw.layers.iter().flatten();
    config
        .chain(layers.map(|d| (Role::Layer, d.digest.as_str())))
        .collect()
}

fn index_refs(raw: &Raw) -> Vec<(Role, &str)> {
    raw.manifests
        .iter()
        .flatten()
        .map(|d| (Role::Child, d.digest.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn image_manifests_list_config_then_layers() {
        for mt in [
            format!("\"mediaType\":\"{DOCKER_MANIFEST}\","),
            format!("\"mediaType\":\"{OCI_MANIFEST}\","),
            String::new(),
        ] {
            let json = format!(
                r#"{{"schemaVersion":2,{mt}"config":{{"digest":"{}"}},"layers":[{{"digest":"{}"}},{{"digest":"{}","urls":["http://x"]}}]}}"#,
                d('a'),
                d('b'),
                d('c')
            );
            let m = parse(json.as_bytes()).unwrap();
            assert_eq!(m.kind, Kind::Image);
            let refs: Vec<String> = m.references.iter().map(|r| r.to_string()).collect();
            assert_eq!(refs, [d('a'), d('b'), d('c')]);
            assert_eq!(m.roles, [Role::Config, Role::Layer, Role::Layer]);
        }
    }

    #[test]
    fn indexes_and_schema1() {
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}"}}]}}"#,
            d('a')
        );
        assert_eq!(parse(json.as_bytes()).unwrap().kind, Kind::Index);
        let json = format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[]}}"#);
        assert_eq!(
            parse(json.as_bytes()).unwrap(),
            Manifest {
                kind: Kind::Index,
                media_type: DOCKER_LIST.into(),
                references: vec![],
                roles: vec![],
                subject: None
            }
        );
        let json = format!(
            r#"{{"schemaVersion":1,"fsLayers":[{{"blobSum":"{0}"}},{{"blobSum":"{0}"}}],"signatures":[]}}"#,
            d('e')
        );
        let m = parse(json.as_bytes()).unwrap();
        assert_eq!((m.kind, m.references.len()), (Kind::Schema1, 2));
        assert_eq!(
            (m.media_type.as_str(), &m.roles[..]),
            ("", &[Role::Layer; 2][..])
        );
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"digest":"{}"}}]}}"#,
            d('a')
        );
        assert_eq!(parse(json.as_bytes()).unwrap().roles, [Role::Child]);
        let json = format!(
            r#"{{"schemaVersion":2,"layers":[{{"digest":"{}"}}]}}"#,
            d('b')
        );
        assert_eq!(parse(json.as_bytes()).unwrap().roles, [Role::Layer]);
    }

    #[test]
    fn only_index_children_are_manifests_and_subject_is_kept_as_written() {
        let image = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"digest":"{}"}},"layers":[],"subject":{{"digest":"{}"}}}}"#,
            d('a'),
            d('b')
        );
        let m = parse(image.as_bytes()).unwrap();
        assert!(m.children().is_empty());
        assert_eq!(m.subject, Some(d('b')));
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}"}}],"subject":{{"digest":"not a digest"}}}}"#,
            d('c')
        );
        let m = parse(index.as_bytes()).unwrap();
        assert_eq!(m.children(), &m.references[..]);
        assert_eq!(m.subject.as_deref(), Some("not a digest"));
    }

    #[test]
    fn bad_manifests_are_errors_not_panics() {
        let cases: [(&[u8], &str); 8] = [
            (b"{\"schemaVersion\":3}", "unrecognized manifest schema version 3"),
            (b"{}", "unrecognized manifest schema version 0"),
            (
                b"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example.unknown+json\"}",
                "errors verifying manifest: unrecognized manifest content type application/vnd.example.unknown+json",
            ),
            (b"", "EOF while parsing a value at line 1 column 0"),
            (b"garbage", "expected value at line 1 column 1"),
            (b"[1]", "manifest is not a JSON object"),
            (b"[1,2,3]", "manifest is not a JSON object"),
            (b"{\"schemaVersion\":2,\"manifests\":\"oops\"}", "invalid type: string \"oops\", expected a sequence at line 1 column 37"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse(input).unwrap_err(),
                want,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        let e = parse(br#"{"schemaVersion":2,"layers":[{"digest":"sha256:xyz"}]}"#).unwrap_err();
        assert_eq!(
            e,
            "reference \"sha256:xyz\": invalid checksum digest length"
        );
    }
}
