//! One registry-gc at a time per bucket and root: a lock object created with
//! a conditional PUT (`If-None-Match: *`), naming its holder and an expiry,
//! rewritten every ttl/3 while held, taken over only once expired, deleted
//! on drop.
//!
//! Servers: moto 5.2.5 and SeaweedFS 4.48 both answer 412 PreconditionFailed
//! to a conditional PUT on an existing key (checked by `tests/objstore.rs`
//! for moto, by hand with this client and boto3 for SeaweedFS), as AWS S3
//! does since 2024-08. A server that ignored
//! the header would let a second run overwrite the lock silently: that is
//! not detectable without a read-back race of its own, so such servers are
//! unsupported.
//!
//! Take-over: two runs that both find the lock expired could both delete and
//! recreate it (S3 has no conditional DELETE through object_store). Each
//! holder writes a random token; the take-over deletes only if the ETag is
//! still the expired one's, and the refresher rewrites only while the token
//! is still its own: a run that lost the lock sees [`S3Lock::check`] fail at
//! its next refresh instead of carrying on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{ClientError, S3Client};

/// Largest lock object read back (a real one is about 200 bytes).
const MAX_LOCK_BYTES: u64 = 64 * 1024;

/// Attempts at creating the lock when it vanishes or expires meanwhile.
const ATTEMPTS: usize = 3;

/// The lock object's content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct LockBody {
    host: String,
    pid: u32,
    /// RFC 3339, UTC.
    started: String,
    /// RFC 3339, UTC.
    expires: String,
    /// Random, tells this holder's writes from a successor's.
    token: String,
}

impl LockBody {
    fn expires_at(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339_weak(&self.expires).ok()
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Why the lock could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds an unexpired lock.
    #[error("another registry-gc holds the lock s3://{bucket}/{key}: {host} pid {pid}, started {started}, expires {expires}")]
    Held {
        /// Bucket.
        bucket: String,
        /// Lock key.
        key: String,
        /// Holder's host.
        host: String,
        /// Holder's pid.
        pid: u32,
        /// When the holder started (RFC 3339).
        started: String,
        /// When the lock expires unless refreshed (RFC 3339).
        expires: String,
    },
    /// The lock object is not one of ours: never taken over.
    #[error("the lock s3://{bucket}/{key} exists but is not a registry-gc lock ({detail}): remove it if no run is going on")]
    Unreadable {
        /// Bucket.
        bucket: String,
        /// Lock key.
        key: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The lock kept changing hands while this run tried to take it.
    #[error("the lock s3://{bucket}/{key} changed hands {ATTEMPTS} times while taking it")]
    Contended {
        /// Bucket.
        bucket: String,
        /// Lock key.
        key: String,
    },
    /// Another run replaced the lock or it could not be refreshed before expiring.
    #[error(
        "lost the lock s3://{bucket}/{key}: another run took it over or it expired unrefreshed"
    )]
    Lost {
        /// Bucket.
        bucket: String,
        /// Lock key.
        key: String,
    },
    /// A request failed.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// A held run lock. Dropping it stops the refresher and deletes the object
/// (unless another run has taken it over meanwhile).
#[derive(Debug)]
pub struct S3Lock {
    client: S3Client,
    key: String,
    token: String,
    lost: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    refresher: Option<JoinHandle<()>>,
}

impl S3Lock {
    /// Takes the lock at `key` for the run on `host` (pid: this process),
    /// valid for `ttl` and refreshed every `ttl / 3` while held.
    pub fn acquire(
        client: &S3Client,
        key: &str,
        host: &str,
        ttl: Duration,
    ) -> Result<S3Lock, LockError> {
        let started = SystemTime::now();
        let body = LockBody {
            host: host.to_string(),
            pid: std::process::id(),
            started: rfc3339(started),
            expires: rfc3339(started + ttl),
            token: uuid::Uuid::new_v4().to_string(),
        };
        for _ in 0..ATTEMPTS {
            if client.put_if_absent(key, encode(&body))? {
                return Ok(S3Lock::start(client, key, body, ttl));
            }
            let Some(before) = client.head(key)? else {
                continue; // released meanwhile
            };
            let Some(bytes) = client.get(key, MAX_LOCK_BYTES)? else {
                continue;
            };
            let current = decode(client, key, &bytes)?;
            let expires = current.expires_at().ok_or_else(|| LockError::Unreadable {
                bucket: client.bucket().to_string(),
                key: key.to_string(),
                detail: format!("bad expiry {:?}", current.expires),
            })?;
            if expires > SystemTime::now() {
                return Err(LockError::Held {
                    bucket: client.bucket().to_string(),
                    key: key.to_string(),
                    host: current.host,
                    pid: current.pid,
                    started: current.started,
                    expires: current.expires,
                });
            }
            // Expired: delete it only if it is still the object read above.
            let still = client.head(key)?;
            if still.is_some_and(|now| now.etag == before.etag && now.modified == before.modified) {
                client.delete_one(key)?;
            }
        }
        Err(LockError::Contended {
            bucket: client.bucket().to_string(),
            key: key.to_string(),
        })
    }

    fn start(client: &S3Client, key: &str, body: LockBody, ttl: Duration) -> S3Lock {
        let (stop, stopped) = mpsc::channel::<()>();
        let lost = Arc::new(AtomicBool::new(false));
        let token = body.token.clone();
        let spawned = {
            let client = client.clone();
            let key = key.to_string();
            let lost = Arc::clone(&lost);
            std::thread::Builder::new()
                .name("s3-lock".into())
                .spawn(move || refresh_until_stopped(&client, &key, body, ttl, &stopped, &lost))
        };
        let refresher = spawned
            .inspect_err(|e| {
                // Without a refresher the lock still holds for one ttl.
                tracing::warn!("cannot start the run lock refresher: {e}");
            })
            .ok();
        S3Lock {
            client: client.clone(),
            key: key.to_string(),
            token,
            lost,
            stop: Some(stop),
            refresher,
        }
    }

    /// `Ok` while the lock is still this run's; call before each deletion batch.
    pub fn check(&self) -> Result<(), LockError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(LockError::Lost {
                bucket: self.client.bucket().to_string(),
                key: self.key.clone(),
            });
        }
        Ok(())
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(refresher) = self.refresher.take() {
            let _ = refresher.join();
        }
        if self.lost.load(Ordering::SeqCst) {
            return;
        }
        // Delete only our own lock: a successor's must stay.
        let ours = match self.client.get(&self.key, MAX_LOCK_BYTES) {
            Ok(Some(bytes)) => serde_json::from_slice::<LockBody>(&bytes)
                .is_ok_and(|body| body.token == self.token),
            Ok(None) => false,
            Err(e) => {
                tracing::warn!("cannot read the run lock back to release it: {e}");
                false
            }
        };
        if ours {
            if let Err(e) = self.client.delete_one(&self.key) {
                tracing::warn!("cannot release the run lock: {e}");
            }
        }
    }
}

/// The refresher thread: rewrites the lock with a new expiry every ttl/3
/// until told to stop (the sender dropped), or the lock is lost.
fn refresh_until_stopped(
    client: &S3Client,
    key: &str,
    mut body: LockBody,
    ttl: Duration,
    stopped: &mpsc::Receiver<()>,
    lost: &AtomicBool,
) {
    let mut valid_until = SystemTime::now() + ttl;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(ttl / 3) {
        match refresh(client, key, &mut body, ttl) {
            Ok(true) => valid_until = SystemTime::now() + ttl,
            Ok(false) => lost.store(true, Ordering::SeqCst),
            Err(e) => {
                tracing::warn!("cannot refresh the run lock: {e}");
                if SystemTime::now() >= valid_until {
                    lost.store(true, Ordering::SeqCst);
                }
            }
        }
        if lost.load(Ordering::SeqCst) {
            tracing::warn!("lost the run lock s3://{}/{key}", client.bucket());
            return;
        }
    }
}

/// Rewrites the lock with a new expiry if it is still ours: `Ok(false)` if
/// it is gone or another run's.
fn refresh(
    client: &S3Client,
    key: &str,
    body: &mut LockBody,
    ttl: Duration,
) -> Result<bool, ClientError> {
    let current = client.get(key, MAX_LOCK_BYTES)?;
    let ours = current
        .and_then(|bytes| serde_json::from_slice::<LockBody>(&bytes).ok())
        .is_some_and(|current| current.token == body.token);
    if !ours {
        return Ok(false);
    }
    body.expires = rfc3339(SystemTime::now() + ttl);
    client.put(key, encode(body))?;
    Ok(true)
}

fn encode(body: &LockBody) -> Vec<u8> {
    serde_json::to_vec(body).expect("a struct of strings serializes")
}

fn decode(client: &S3Client, key: &str, bytes: &[u8]) -> Result<LockBody, LockError> {
    serde_json::from_slice(bytes).map_err(|e| LockError::Unreadable {
        bucket: client.bucket().to_string(),
        key: key.to_string(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A refresh that fails (here nothing listens at the endpoint) loses the
    /// lock only once the expiry last written has passed, not at the first
    /// failure: a run outlives a server's hiccup shorter than the ttl.
    #[test]
    fn a_failing_refresh_loses_the_lock_only_once_it_has_expired() {
        let client = crate::objstore::unreachable_client("lock");
        let ttl = Duration::from_secs(6);
        let now = SystemTime::now();
        let body = LockBody {
            host: "alpha".into(),
            pid: 1,
            started: rfc3339(now),
            expires: rfc3339(now + ttl),
            token: "t".into(),
        };
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let started = Instant::now();
        let refresher = {
            let lost = Arc::clone(&lost);
            std::thread::spawn(move || {
                refresh_until_stopped(&client, "gc.lock", body, ttl, &stopped, &lost)
            })
        };
        // Refreshes fail at 2 s and 4 s; the lock holds until 6 s.
        std::thread::sleep(Duration::from_secs(3));
        assert!(!lost.load(Ordering::SeqCst), "lost at the first failure");
        while !lost.load(Ordering::SeqCst) && started.elapsed() < 4 * ttl {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(lost.load(Ordering::SeqCst), "never lost");
        assert!(started.elapsed() >= ttl, "lost before it expired");
        drop(stop);
        refresher.join().unwrap();
    }
}
