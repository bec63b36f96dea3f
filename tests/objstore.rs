//! The S3 request layer against moto on loopback: pagination and request
//! counts, concurrent listings, reads and their limits, batch deletes, the
//! run lock, and the error messages for a missing bucket and a dead endpoint.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

mod support;

use registry_gc::objstore::lock::{LockError, S3Lock};
use registry_gc::objstore::{ClientConfig, ErrorKind, S3Client};
use support::free_port;
use support::s3::{S3Proxy, S3Server};

/// A client for `bucket` on `server` (the bucket is not created).
fn client_for(server: &S3Server, bucket: &str) -> S3Client {
    S3Client::new(config(&server.endpoint(), bucket)).expect("client")
}

/// Creates `name` on `server` and returns a client for it.
fn new_bucket(server: &S3Server, name: &str) -> S3Client {
    server.create_bucket(name);
    client_for(server, name)
}

fn config(endpoint: &str, bucket: &str) -> ClientConfig {
    ClientConfig {
        endpoint: Some(endpoint.to_string()),
        path_style: true,
        access_key: Some("test".into()),
        secret_key: Some("test".into()),
        ..ClientConfig::new(bucket, "us-east-1")
    }
}

/// Puts every key (its own name as content) from 16 threads sharing one client.
fn put_all(client: &S3Client, keys: &[String]) {
    std::thread::scope(|s| {
        for chunk in keys.chunks(keys.len().div_ceil(16)) {
            s.spawn(move || {
                for key in chunk {
                    client.put(key, key.as_bytes().to_vec()).expect("put");
                }
            });
        }
    });
}

#[test]
fn listings_and_batch_deletes_are_paginated_and_counted() {
    let moto = S3Server::moto();
    let writer = new_bucket(&moto, "big");
    let keys: Vec<String> = (0..2500)
        .map(|i| format!("r/blobs/{:02x}/k{i:05}", i % 16))
        .collect();
    put_all(&writer, &keys);
    writer.put("r/repositories/a/link", b"x".to_vec()).unwrap();
    assert_eq!(writer.requests().put, 2501);

    let client = client_for(&moto, "big");
    let listed = client.list("r/blobs/").unwrap();
    let mut names: Vec<String> = listed.iter().map(|o| o.key.clone()).collect();
    names.sort();
    let mut want = keys.clone();
    want.sort();
    assert_eq!(names, want);
    assert!(listed
        .iter()
        .all(|o| o.size == o.key.len() as u64 && o.etag.is_some()));
    assert_eq!(client.requests().list, 3, "2,500 keys are 3 pages");

    let mut prefixes: Vec<String> = (0..16).map(|h| format!("r/blobs/{h:02x}/")).collect();
    prefixes.push("r/repositories/".into());
    let many = client.list_many(&prefixes).unwrap();
    assert_eq!(many.len(), 2501);
    assert_eq!(
        many.last().unwrap().key,
        "r/repositories/a/link",
        "in prefix order"
    );
    assert!(many[..157].iter().all(|o| o.key.starts_with("r/blobs/00/")));
    assert_eq!(client.requests().list, 3 + 17, "one page per prefix");
    // Plain string prefixes: `r/blobs/0` covers every `r/blobs/0?/` directory.
    let plain = ["r/blobs/0".to_string(), "r/repositories/a".to_string()];
    let raw = client.list_many_map(&plain, Some).unwrap();
    let mut raw_names: Vec<String> = raw.iter().map(|o| o.key.clone()).collect();
    raw_names.sort();
    let mut want_all = want.clone();
    want_all.push("r/repositories/a/link".into());
    assert_eq!(raw_names, want_all);
    assert_eq!(client.requests().list, 3 + 17 + 3 + 1, "3 pages, then 1");

    let mut doomed = keys.clone();
    doomed.insert(1234, "r/blobs/00/never-was".into());
    let results = client.delete(&doomed);
    assert_eq!(results.len(), 2501);
    assert!(results
        .iter()
        .zip(&doomed)
        .all(|((k, r), d)| k == d && r.is_ok()));
    assert_eq!(
        client.requests().delete,
        3,
        "2,501 keys are 3 DeleteObjects"
    );
    let left = client.list("").unwrap();
    assert_eq!(left.len(), 1);
    let counts = client.requests();
    assert_eq!(
        (counts.get, counts.head, counts.put, counts.other),
        (0, 0, 0, 0)
    );

    // A key object_store would send as another (its trailing `/` dropped) is
    // refused without a request, not deleted as the key it would name.
    let marker = "r/repositories/a/link/".to_string();
    assert_eq!(
        client.delete(std::slice::from_ref(&marker)),
        vec![(
            marker.clone(),
            Err(format!("{marker:?} is not a valid object key"))
        )]
    );
    assert_eq!(client.requests().delete, 3, "no request");
    assert_eq!(client.list("").unwrap(), left, "the link is still there");
}

#[test]
fn reads_report_missing_keys_and_refuse_oversized_objects() {
    let moto = S3Server::moto();
    let client = new_bucket(&moto, "reads");
    client.put("a/b", b"0123456789".to_vec()).unwrap();
    assert_eq!(
        client.get("a/b", 10).unwrap().as_deref(),
        Some(&b"0123456789"[..])
    );
    assert_eq!(client.get("a/c", 10).unwrap(), None);
    let e = client.get("a/b", 9).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert_eq!(
        e.to_string(),
        "S3 get of s3://reads/a/b: the object is 10 bytes, more than the limit of 9"
    );
    let head = client.head("a/b").unwrap().unwrap();
    assert_eq!((head.key.as_str(), head.size), ("a/b", 10));
    assert!(head.modified <= SystemTime::now() + Duration::from_secs(5));
    assert_eq!(client.head("a/c").unwrap(), None);
    let invalid = client.get("a//b", 10).unwrap_err();
    assert_eq!(invalid.kind(), ErrorKind::InvalidKey);
    let counts = client.requests();
    assert_eq!((counts.put, counts.get, counts.head), (1, 3, 2));
}

#[test]
fn conditional_put_creates_only_once() {
    let moto = S3Server::moto();
    let client = new_bucket(&moto, "cond");
    // moto honours If-None-Match: * (412 on an existing key).
    assert!(client.put_if_absent("lock", b"first".to_vec()).unwrap());
    assert!(!client.put_if_absent("lock", b"second".to_vec()).unwrap());
    assert_eq!(
        client.get("lock", 100).unwrap().as_deref(),
        Some(&b"first"[..])
    );
    client.delete_one("lock").unwrap();
    client.delete_one("lock").unwrap();
    assert!(client.put_if_absent("lock", b"third".to_vec()).unwrap());
}

/// Polls `condition` for up to 10 s.
fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

fn lock_body(client: &S3Client, key: &str) -> serde_json::Value {
    serde_json::from_slice(&client.get(key, 4096).unwrap().expect("lock object")).unwrap()
}

#[test]
fn the_run_lock_is_exclusive_refreshed_taken_over_when_expired_and_released() {
    let moto = S3Server::moto();
    let client = new_bucket(&moto, "lock");
    let ttl = Duration::from_millis(1500);
    let first = S3Lock::acquire(&client, "gc.lock", "alpha", ttl).unwrap();
    let body = lock_body(&client, "gc.lock");
    assert_eq!(body["host"], "alpha");
    assert_eq!(body["pid"], std::process::id());

    let refused = S3Lock::acquire(&client, "gc.lock", "beta", ttl).unwrap_err();
    assert!(matches!(refused, LockError::Held { .. }), "{refused}");
    let message = refused.to_string();
    assert!(
        message.starts_with(&format!(
            "another registry-gc holds the lock s3://lock/gc.lock: alpha pid {}, started ",
            std::process::id()
        )),
        "{message}"
    );
    assert!(
        message.contains(body["expires"].as_str().unwrap()),
        "{message}"
    );

    // Refreshed every ttl/3 (0.5 s): the expiry moves within a few seconds
    // even on a loaded machine.
    assert!(
        eventually(|| lock_body(&client, "gc.lock")["expires"].as_str() > body["expires"].as_str()),
        "the lock was not refreshed"
    );
    first.check().unwrap();
    drop(first);
    assert_eq!(
        client.head("gc.lock").unwrap(),
        None,
        "drop deletes the lock"
    );

    // An expired lock of a dead run is taken over.
    let stale = r#"{"host":"ghost","pid":1,"started":"2020-01-01T00:00:00Z","expires":"2020-01-01T01:00:00Z","token":"t"}"#;
    client.put("gc.lock", stale.as_bytes().to_vec()).unwrap();
    let taker = S3Lock::acquire(&client, "gc.lock", "beta", ttl).unwrap();
    assert_eq!(lock_body(&client, "gc.lock")["host"], "beta");

    // A lock another run replaced is lost: check fails and drop leaves it.
    let successor = r#"{"host":"gamma","pid":2,"started":"2030-01-01T00:00:00Z","expires":"2030-01-01T01:00:00Z","token":"other"}"#;
    client
        .put("gc.lock", successor.as_bytes().to_vec())
        .unwrap();
    assert!(
        eventually(|| taker.check().is_err()),
        "the loss went unnoticed"
    );
    let lost = taker.check().unwrap_err();
    assert_eq!(
        lost.to_string(),
        "lost the lock s3://lock/gc.lock: another run took it over or it expired unrefreshed"
    );
    drop(taker);
    assert_eq!(lock_body(&client, "gc.lock")["host"], "gamma");
}

#[test]
fn a_missing_bucket_is_named() {
    let moto = S3Server::moto();
    let client = client_for(&moto, "nosuch");
    let e = client.list("docker/").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoSuchBucket);
    assert_eq!(
        e.to_string(),
        "S3 list of s3://nosuch/docker/: the bucket nosuch does not exist (NoSuchBucket: The specified bucket does not exist)"
    );
    let e = client.get("docker/x", 10).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoSuchBucket, "{e}");
}

#[test]
fn an_unreachable_endpoint_is_named() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let client = S3Client::new(ClientConfig {
        retry_timeout: Duration::from_millis(300),
        ..config(&endpoint, "b")
    })
    .unwrap();
    let e = client.list("").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreachable);
    let message = e.to_string();
    assert!(
        message.starts_with(&format!(
            "S3 list of s3://b/: cannot connect to the endpoint {endpoint}: "
        )),
        "{message}"
    );
    assert!(message.contains("refused"), "{message}");
    assert_eq!(client.requests().total(), 0, "no request reached a server");
}

#[test]
fn incomplete_multipart_uploads_are_listed_and_aborted() {
    let moto = S3Server::moto();
    let client = new_bucket(&moto, "mpu");
    for key in ["reg/docker/a b+c/data", "other/data"] {
        // moto takes an unsigned CreateMultipartUpload.
        let encoded = key.replace(' ', "%20").replace('+', "%2B");
        let status = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", "-X", "POST"])
            .arg(format!("{}/mpu/{encoded}?uploads", moto.endpoint()))
            .status()
            .expect("run curl");
        assert!(status.success());
    }
    let uploads = client.list_multipart_uploads("reg/").unwrap();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(uploads[0].key, "reg/docker/a b+c/data");
    // moto reports the same Initiated for every upload.
    let moto_initiated = SystemTime::UNIX_EPOCH + Duration::from_secs(1_289_422_113);
    assert_eq!(uploads[0].initiated, moto_initiated);
    assert_eq!(client.list_multipart_uploads("").unwrap().len(), 2);

    client
        .abort_multipart_upload(&uploads[0].key, &uploads[0].upload_id)
        .unwrap();
    assert_eq!(client.list_multipart_uploads("reg/").unwrap(), vec![]);
    client
        .abort_multipart_upload(&uploads[0].key, &uploads[0].upload_id)
        .unwrap();
    let counts = client.requests();
    assert_eq!((counts.list, counts.delete), (3, 2));

    let e = client_for(&moto, "nosuch")
        .list_multipart_uploads("")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoSuchBucket, "{e}");
}

/// A DeleteObjects the server refuses whole (503 SlowDown until the retries
/// give up) fails every key of its batch with the server's reason, not a bare
/// "not confirmed": the operator sees why the sweep stopped.
#[test]
fn a_refused_batch_delete_fails_every_key_with_the_reason() {
    let moto = S3Server::moto();
    let writer = new_bucket(&moto, "refused");
    let keys = vec!["r/a".to_string(), "r/b".to_string()];
    put_all(&writer, &keys);
    let proxy = S3Proxy::start(moto.port, &["--fail-methods", "POST", "--fail-rate", "1"]);
    let client = S3Client::new(ClientConfig {
        retry_timeout: Duration::from_millis(300),
        ..config(&proxy.endpoint(), "refused")
    })
    .unwrap();
    let results = client.delete(&keys);
    assert_eq!(results.len(), 2);
    for ((key, result), want) in results.iter().zip(&keys) {
        assert_eq!(key, want);
        let e = result.as_ref().unwrap_err();
        assert!(e.contains("SlowDown"), "{key}: {e}");
    }
    assert_eq!(writer.list("r/").unwrap().len(), 2, "nothing deleted");
}

/// The refresher keeps a held lock valid: sampled for longer than its ttl,
/// the expiry it wrote is always ahead of the clock, so no other run can
/// take it over as expired while this one deletes.
#[test]
fn a_held_run_lock_never_lapses() {
    let moto = S3Server::moto();
    let client = new_bucket(&moto, "lapse");
    let ttl = Duration::from_secs(6);
    let held = S3Lock::acquire(&client, "gc.lock", "alpha", ttl).unwrap();
    let end = Instant::now() + ttl + Duration::from_secs(1);
    while Instant::now() < end {
        let body = lock_body(&client, "gc.lock");
        let expires = body["expires"].as_str().unwrap();
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        assert!(
            expires > now.as_str(),
            "lapsed: expires {expires}, now {now}"
        );
        held.check().unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A refresh that fails after one succeeded (the endpoint gone) loses the
/// lock only once the expiry the last good refresh wrote has passed.
#[test]
fn a_lock_outlives_a_failed_refresh_until_its_last_expiry() {
    let moto = S3Server::moto();
    new_bucket(&moto, "hiccup");
    let proxy = S3Proxy::start(moto.port, &[]);
    let client = S3Client::new(ClientConfig {
        retry_timeout: Duration::from_millis(200),
        ..config(&proxy.endpoint(), "hiccup")
    })
    .unwrap();
    let ttl = Duration::from_secs(6);
    let held = S3Lock::acquire(&client, "gc.lock", "alpha", ttl).unwrap();
    let first = lock_body(&client, "gc.lock")["expires"].clone();
    assert!(
        eventually(|| lock_body(&client, "gc.lock")["expires"] != first),
        "the lock was not refreshed"
    );
    // Refreshed at 2 s, valid until 8 s; the refreshes at 4 s and 6 s fail.
    drop(proxy);
    std::thread::sleep(Duration::from_secs(3));
    held.check().expect("lost before the refreshed expiry");
    assert!(eventually(|| held.check().is_err()), "never lost");
}
