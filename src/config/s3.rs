//! The `storage.s3` section, read as the registry's s3 driver
//! (`registry/storage/driver/s3-aws/s3.go`, `FromParameters` and `New`)
//! reads it in 2.8.2, plus the keys v3 added. Unknown keys are ignored, as
//! upstream ignores them; messages are upstream's where upstream has one.

use super::{parse_go_uint, scalar_text};
use serde_yaml::Value;

/// The names upstream registers the driver under (`s3-aws` is not one).
pub(crate) const DRIVERS: [&str; 2] = ["s3", "s3aws"];

/// Where the store's keys start below the root: paths.go's root path.
const STORE_PATH: &str = "/docker/registry/v2/";
/// Upstream's `minChunkSize` and `maxChunkSize`.
const MIN_CHUNK: i64 = 5 << 20;
const MAX_CHUNK: i64 = 5 << 30;
/// v3.1.1's `s3StorageClasses`, a superset of 2.8.2's.
const STORAGE_CLASSES: [&str; 9] = [
    "NONE",
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "OUTPOSTS",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
];
/// The canned ACLs upstream accepts for `objectacl`.
const OBJECT_ACLS: [&str; 7] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

/// How to reach the bucket that holds the store, and where the store's keys
/// are in it. Only what reading and deleting need; the keys that shape
/// uploads (`chunksize`, `storageclass`, `encrypt`, `keyid`, `objectacl`,
/// the multipart settings, `useragent`) are validated as upstream does and
/// then dropped, as are `usedualstack`, `accelerate`, `usefipsendpoint` and
/// `loglevel` (the plain regional endpoint reaches the same objects).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Config {
    /// `bucket`.
    pub bucket: String,
    /// `region`, used for signing. Not checked against a list of AWS
    /// regions (2.8.2's list is its SDK's, and stale).
    pub region: String,
    /// `regionendpoint` as a full URL with a scheme: when written without
    /// one (`minio:9000`) it gets `https://`, or `http://` with
    /// `secure: false`, as the AWS SDK does. `None`: AWS's own endpoint
    /// (over HTTPS whatever `secure` says).
    pub endpoint: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`) rather than
    /// virtual-hosted ones (`bucket.endpoint/key`): 2.8.2 uses them whenever
    /// `regionendpoint` is set; v3's `forcepathstyle: true` forces them.
    pub path_style: bool,
    /// The key of the store's root, with a trailing `/`: what the driver
    /// puts before `<path>` below `/docker/registry/v2/`, computed from
    /// `rootdirectory` as its `s3Path` does
    /// (`TrimLeft(TrimRight(root, "/") + path, "/")`): `/registry`,
    /// `registry` and `registry/` give `registry/docker/registry/v2/`;
    /// none, empty or `/` give `docker/registry/v2/`.
    pub key_prefix: String,
    /// `accesskey`; `None` together with `secret_key` when both are empty
    /// or absent: then the AWS default credential chain (environment,
    /// shared profile, web identity, instance role) is used.
    pub access_key: Option<String>,
    /// `secretkey`; set exactly when `access_key` is.
    pub secret_key: Option<String>,
    /// `skipverify`: do not verify the endpoint's TLS certificate.
    pub skip_verify: bool,
}

/// Reads the driver's parameters (`params` is the driver's section, `Null`
/// for `storage: s3`). The error is the message after
/// `failed to construct s3 driver: `.
pub(crate) fn parse(params: &Value) -> Result<S3Config, String> {
    // The order of the checks is upstream's: the first problem is reported.
    let force_path_style = boolean(params, "forcepathstyle", "forcepathstyle", false)?;
    let region =
        non_empty(params, "region")?.ok_or_else(|| "no region parameter provided".to_string())?;
    let bucket =
        non_empty(params, "bucket")?.ok_or_else(|| "no bucket parameter provided".to_string())?;
    boolean(params, "encrypt", "encrypt", false)?;
    let secure = boolean(params, "secure", "secure", true)?;
    let skip_verify = boolean(params, "skipverify", "skipVerify", false)?;
    let v4auth = boolean(params, "v4auth", "v4auth", true)?;
    integer(params, "chunksize", MIN_CHUNK, MAX_CHUNK)?;
    integer(params, "multipartcopychunksize", MIN_CHUNK, MAX_CHUNK)?;
    integer(params, "multipartcopymaxconcurrency", 1, i64::MAX)?;
    integer(params, "multipartcopythresholdsize", 0, MAX_CHUNK)?;
    storage_class(&params["storageclass"])?;
    object_acl(&params["objectacl"])?;
    for key in ["usedualstack", "accelerate", "usefipsendpoint"] {
        boolean(params, key, key, false)?;
    }
    let region_endpoint = non_empty(params, "regionendpoint")?;
    if !v4auth {
        return Err(match &region_endpoint {
            Some(e) if !e.contains("s3.amazonaws.com") => "v4auth: false asks for AWS Signature Version 2, which registry-gc does not support (it signs with Signature Version 4 only); remove v4auth or set it to true".into(),
            _ => "on Amazon S3 this storage driver can only be used with v4 authentication".into(),
        });
    }
    let access_key = non_empty(params, "accesskey")?;
    let secret_key = non_empty(params, "secretkey")?;
    if access_key.is_some() != secret_key.is_some() {
        let (set, unset) = if access_key.is_some() {
            ("accesskey", "secretkey")
        } else {
            ("secretkey", "accesskey")
        };
        return Err(format!("{set} is set but {unset} is empty: give both, or neither to use the AWS default credential chain"));
    }
    let root = text(params, "rootdirectory")?.unwrap_or_default();
    let key_prefix = format!("{}{STORE_PATH}", root.trim_end_matches('/'))
        .trim_start_matches('/')
        .to_string();
    let endpoint = region_endpoint.map(|e| with_scheme(e, secure));
    Ok(S3Config {
        bucket,
        region,
        path_style: endpoint.is_some() || force_path_style,
        endpoint,
        key_prefix,
        access_key,
        secret_key,
        skip_verify,
    })
}

/// The AWS SDK's `AddScheme`: an endpoint not starting with `<scheme>://`
/// gets `https://`, or `http://` when not `secure`.
fn with_scheme(endpoint: String, secure: bool) -> String {
    let has_scheme = endpoint
        .find(':')
        .is_some_and(|i| i > 0 && endpoint[i..].starts_with("://"));
    if has_scheme {
        endpoint
    } else if secure {
        format!("https://{endpoint}")
    } else {
        format!("http://{endpoint}")
    }
}

/// A string parameter as upstream's `fmt.Sprint` gives it; `None` when absent.
fn text(params: &Value, key: &str) -> Result<Option<String>, String> {
    match &params[key] {
        Value::Null => Ok(None),
        v => scalar_text(v)
            .map(Some)
            .ok_or_else(|| format!("the {key} parameter should be a string")),
    }
}

/// A string parameter, `None` when absent or empty.
fn non_empty(params: &Value, key: &str) -> Result<Option<String>, String> {
    Ok(text(params, key)?.filter(|s| !s.is_empty()))
}

/// A boolean parameter: a YAML boolean or a string `strconv.ParseBool`
/// takes. The registry's YAML 1.1 decoder also reads a plain `yes`, `no`,
/// `on`, `off`, `y` or `n` as a boolean; they arrive here as strings (and
/// so, as upstream, from `REGISTRY_*` variables), and are taken as such.
fn boolean(params: &Value, key: &str, shown: &str, default: bool) -> Result<bool, String> {
    let invalid = || format!("the {shown} parameter should be a boolean");
    match &params[key] {
        Value::Null => Ok(default),
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.as_str() {
            "1" | "t" | "T" | "true" | "True" | "TRUE" => Ok(true),
            "0" | "f" | "F" | "false" | "False" | "FALSE" => Ok(false),
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Ok(true),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Ok(false),
            _ => Err(invalid()),
        },
        _ => Err(invalid()),
    }
}

/// 2.8.2's `getParameterAsInt64`: an integer or a string `strconv.ParseInt`
/// takes, within `min..=max`. The value only matters to uploads.
fn integer(params: &Value, key: &str, min: i64, max: i64) -> Result<(), String> {
    let value = match &params[key] {
        Value::Null => return Ok(()),
        Value::String(s) => parse_go_int(s)
            .ok_or_else(|| format!("{key} parameter must be an integer, {s} invalid"))?,
        // Go converts a uint64 above the int64 range by wrapping.
        Value::Number(n) if n.is_i64() || n.is_u64() => n
            .as_i64()
            .unwrap_or_else(|| n.as_u64().map_or(0, |u| u as i64)),
        other => {
            return Err(format!(
                "invalid value for {key}: {}",
                scalar_text(other).unwrap_or_else(|| "<non-scalar>".into())
            ))
        }
    };
    if value < min || value > max {
        return Err(format!(
            "the {key} {value} parameter should be a number between {min} and {max} (inclusive)"
        ));
    }
    Ok(())
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_go_uint(digits)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `storageclass`: one of [`STORAGE_CLASSES`], in any case.
fn storage_class(v: &Value) -> Result<(), String> {
    let valid = match v {
        Value::Null => true,
        Value::String(s) => STORAGE_CLASSES.contains(&s.to_uppercase().as_str()),
        _ => false,
    };
    if valid {
        return Ok(());
    }
    Err(format!(
        "the storageclass parameter must be one of [{}], {} invalid",
        STORAGE_CLASSES.join(" "),
        scalar_text(v).unwrap_or_else(|| "<non-scalar>".into())
    ))
}

/// `objectacl`: one of [`OBJECT_ACLS`], exactly.
fn object_acl(v: &Value) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::String(s) if OBJECT_ACLS.contains(&s.as_str()) => Ok(()),
        other => Err(format!(
            "invalid value for objectacl parameter: {}",
            scalar_text(other).unwrap_or_else(|| "<non-scalar>".into())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal parameters every case starts from.
    const BASE: &str = "region: us-east-1\nbucket: registry\n";

    fn read(extra: &str) -> Result<S3Config, String> {
        let params: Value = serde_yaml::from_str(&format!("{BASE}{extra}")).unwrap();
        parse(&params)
    }

    fn ok(extra: &str) -> S3Config {
        read(extra).unwrap_or_else(|e| panic!("{extra:?}: {e}"))
    }

    fn err(extra: &str) -> String {
        read(extra).unwrap_err()
    }

    #[test]
    fn defaults() {
        assert_eq!(
            ok(""),
            S3Config {
                bucket: "registry".into(),
                region: "us-east-1".into(),
                endpoint: None,
                path_style: false,
                key_prefix: "docker/registry/v2/".into(),
                access_key: None,
                secret_key: None,
                skip_verify: false,
            }
        );
    }

    #[test]
    fn root_directory_gives_the_key_prefix_as_the_driver_computes_it() {
        // docker-registry 2.8.2 listed `registry/docker/registry/v2/repositories/`
        // for `/registry/` and `docker/registry/v2/repositories/` for none.
        let cases = [
            ("", "docker/registry/v2/"),
            ("rootdirectory: ''", "docker/registry/v2/"),
            ("rootdirectory: /", "docker/registry/v2/"),
            ("rootdirectory: //", "docker/registry/v2/"),
            ("rootdirectory: /registry", "registry/docker/registry/v2/"),
            ("rootdirectory: registry", "registry/docker/registry/v2/"),
            ("rootdirectory: registry/", "registry/docker/registry/v2/"),
            ("rootdirectory: /registry//", "registry/docker/registry/v2/"),
            ("rootdirectory: /a/b", "a/b/docker/registry/v2/"),
            ("rootdirectory: /a//b", "a//b/docker/registry/v2/"),
            ("rootdirectory: 5", "5/docker/registry/v2/"),
        ];
        for (extra, want) in cases {
            assert_eq!(ok(extra).key_prefix, want, "{extra:?}");
        }
        assert_eq!(
            err("rootdirectory: [a]"),
            "the rootdirectory parameter should be a string"
        );
    }

    #[test]
    fn endpoint_gets_its_scheme_from_secure_and_implies_path_style() {
        let cases = [
            ("regionendpoint: minio:9000", "https://minio:9000"),
            (
                "regionendpoint: minio:9000\nsecure: true",
                "https://minio:9000",
            ),
            (
                "regionendpoint: minio:9000\nsecure: false",
                "http://minio:9000",
            ),
            (
                "regionendpoint: minio:9000\nsecure: 'false'",
                "http://minio:9000",
            ),
            (
                "regionendpoint: minio:9000\nsecure: 'f'",
                "http://minio:9000",
            ),
            // The registry's YAML 1.1 decoder reads a plain `no` as false.
            (
                "regionendpoint: minio:9000\nsecure: no",
                "http://minio:9000",
            ),
            ("regionendpoint: 127.0.0.1", "https://127.0.0.1"),
            ("regionendpoint: http://minio:9000", "http://minio:9000"),
            (
                "regionendpoint: https://minio\nsecure: false",
                "https://minio",
            ),
            ("regionendpoint: HTTP://minio", "HTTP://minio"),
            ("regionendpoint: ://minio", "https://://minio"),
        ];
        for (extra, want) in cases {
            let c = ok(extra);
            assert_eq!(c.endpoint.as_deref(), Some(want), "{extra:?}");
            assert!(c.path_style, "{extra:?}");
        }
        for extra in ["regionendpoint: ''", "regionendpoint:", "secure: false"] {
            let c = ok(extra);
            assert_eq!(c.endpoint, None, "{extra:?}");
            assert!(!c.path_style, "{extra:?}");
        }
    }

    #[test]
    fn force_path_style_only_adds_path_style() {
        assert!(ok("forcepathstyle: true").path_style);
        assert!(ok("forcepathstyle: 'true'").path_style);
        assert!(!ok("forcepathstyle: false").path_style);
        // 2.8.2 always uses path-style with an endpoint.
        assert!(ok("regionendpoint: http://m\nforcepathstyle: false").path_style);
        assert_eq!(
            err("forcepathstyle: maybe"),
            "the forcepathstyle parameter should be a boolean"
        );
    }

    #[test]
    fn credentials_are_both_or_neither() {
        let c = ok("accesskey: AK\nsecretkey: SK");
        assert_eq!(
            (c.access_key.as_deref(), c.secret_key.as_deref()),
            (Some("AK"), Some("SK"))
        );
        for extra in ["", "accesskey: ''\nsecretkey: ''", "accesskey:\nsecretkey:"] {
            let c = ok(extra);
            assert_eq!((c.access_key, c.secret_key), (None, None), "{extra:?}");
        }
        assert_eq!(
            err("accesskey: AK"),
            "accesskey is set but secretkey is empty: give both, or neither to use the AWS default credential chain"
        );
        assert_eq!(
            err("accesskey: ''\nsecretkey: SK"),
            "secretkey is set but accesskey is empty: give both, or neither to use the AWS default credential chain"
        );
        assert_eq!(
            ok("accesskey: 123\nsecretkey: 456").access_key.as_deref(),
            Some("123")
        );
    }

    #[test]
    fn skip_verify() {
        assert!(ok("skipverify: true").skip_verify);
        assert!(ok("skipverify: '1'").skip_verify);
        assert!(!ok("skipverify: False").skip_verify);
    }

    #[test]
    fn v4auth_false_is_refused() {
        // docker-registry 2.8.2: "on Amazon S3 this storage driver can only be
        // used with v4 authentication" without an endpoint or with an AWS one.
        let upstream = "on Amazon S3 this storage driver can only be used with v4 authentication";
        assert_eq!(err("v4auth: false"), upstream);
        assert_eq!(
            err("v4auth: 'false'\nregionendpoint: http://s3.amazonaws.com:1"),
            upstream
        );
        // 2.8.2 would sign with SigV2 here; object_store cannot.
        assert_eq!(
            err("v4auth: false\nregionendpoint: http://minio:9000"),
            "v4auth: false asks for AWS Signature Version 2, which registry-gc does not support (it signs with Signature Version 4 only); remove v4auth or set it to true"
        );
        ok("v4auth: true");
        ok("v4auth: 'TRUE'");
    }

    #[test]
    fn required_keys_in_upstreams_order() {
        let read_only = |text: &str| parse(&serde_yaml::from_str(text).unwrap()).unwrap_err();
        assert_eq!(read_only("bucket: b"), "no region parameter provided");
        assert_eq!(
            read_only("region: ''\nbucket: b"),
            "no region parameter provided"
        );
        assert_eq!(read_only("{}"), "no region parameter provided");
        assert_eq!(read_only("~"), "no region parameter provided");
        assert_eq!(read_only("region: r"), "no bucket parameter provided");
        assert_eq!(
            read_only("region: r\nbucket: ''"),
            "no bucket parameter provided"
        );
        // forcepathstyle (v3) is checked before the region, encrypt after the bucket.
        assert_eq!(
            read_only("forcepathstyle: x\nencrypt: x"),
            "the forcepathstyle parameter should be a boolean"
        );
        assert_eq!(
            read_only("region: r\nencrypt: x"),
            "no bucket parameter provided"
        );
        // Any region is taken: 2.8.2 checks it against its SDK's (stale) list
        // when there is no endpoint.
        let c = parse(&serde_yaml::from_str("region: eu-central-2\nbucket: b").unwrap());
        assert_eq!(c.unwrap().region, "eu-central-2");
    }

    #[test]
    fn booleans_as_upstream_reads_them() {
        // Wording of docker-registry 2.8.2 (skipVerify) and v3.1.1 (the v3 keys).
        for (key, shown) in [
            ("encrypt", "encrypt"),
            ("secure", "secure"),
            ("skipverify", "skipVerify"),
            ("v4auth", "v4auth"),
            ("usedualstack", "usedualstack"),
            ("accelerate", "accelerate"),
            ("usefipsendpoint", "usefipsendpoint"),
        ] {
            let want = format!("the {shown} parameter should be a boolean");
            for bad in ["maybe", "0", "'yes please'", "[true]"] {
                assert_eq!(err(&format!("{key}: {bad}")), want, "{key}: {bad}");
            }
            ok(&format!("{key}: true"));
            ok(&format!("{key}: 'True'"));
        }
    }

    #[test]
    fn write_only_and_unknown_keys_are_ignored() {
        let all =
            "chunksize: 10485760\nstorageclass: reduced_redundancy\nencrypt: true\nkeyid: k\n\
            objectacl: bucket-owner-full-control\nmultipartcopychunksize: '0x2000000'\n\
            multipartcopymaxconcurrency: 100\nmultipartcopythresholdsize: 0\nuseragent: ua\n\
            usedualstack: true\naccelerate: false\nusefipsendpoint: 'true'\nloglevel: debug\n\
            somethingelse: {a: b}\n";
        assert_eq!(ok(all), ok(""));
        assert_eq!(ok("loglevel: [not, a, level]"), ok(""));
        // v3's storage classes are taken too.
        assert_eq!(ok("storageclass: standard_ia"), ok(""));
    }

    #[test]
    fn integers_as_upstream_reads_them() {
        // docker-registry 2.8.2's messages.
        let cases = [
            ("chunksize: 100", "the chunksize 100 parameter should be a number between 5242880 and 5368709120 (inclusive)"),
            ("chunksize: abc", "chunksize parameter must be an integer, abc invalid"),
            ("chunksize: 2.5", "invalid value for chunksize: 2.5"),
            ("chunksize: true", "invalid value for chunksize: true"),
            ("multipartcopychunksize: '-0x10'", "the multipartcopychunksize -16 parameter should be a number between 5242880 and 5368709120 (inclusive)"),
            ("multipartcopymaxconcurrency: 0", "the multipartcopymaxconcurrency 0 parameter should be a number between 1 and 9223372036854775807 (inclusive)"),
            ("multipartcopythresholdsize: '-1'", "the multipartcopythresholdsize -1 parameter should be a number between 0 and 5368709120 (inclusive)"),
            ("multipartcopythresholdsize: '9223372036854775808'", "multipartcopythresholdsize parameter must be an integer, 9223372036854775808 invalid"),
        ];
        for (extra, want) in cases {
            assert_eq!(err(extra), want, "{extra:?}");
        }
        ok("chunksize: '5242880'");
        ok("chunksize: '+0x500000'");
        ok("multipartcopymaxconcurrency: '010'");
        ok("multipartcopythresholdsize: '-0'");
    }

    #[test]
    fn storage_class_and_object_acl() {
        let classes = "[NONE STANDARD REDUCED_REDUNDANCY STANDARD_IA ONEZONE_IA INTELLIGENT_TIERING OUTPOSTS GLACIER_IR EXPRESS_ONEZONE]";
        assert_eq!(
            err("storageclass: glacier"),
            format!("the storageclass parameter must be one of {classes}, glacier invalid")
        );
        assert_eq!(
            err("storageclass: 5"),
            format!("the storageclass parameter must be one of {classes}, 5 invalid")
        );
        ok("storageclass: none");
        assert_eq!(
            err("objectacl: nope"),
            "invalid value for objectacl parameter: nope"
        );
        assert_eq!(
            err("objectacl: Private"),
            "invalid value for objectacl parameter: Private"
        );
        ok("objectacl: public-read");
    }
}
