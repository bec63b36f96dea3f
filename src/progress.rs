//! Progress on a terminal: process-wide counters that the phases bump, and
//! one spinner line on stderr (drawn by the CLI) that log lines suspend.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

static REPOSITORIES: AtomicU64 = AtomicU64::new(0);
static BLOBS: AtomicU64 = AtomicU64::new(0);
static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// A repository has been marked.
pub(crate) fn repository_marked() {
    REPOSITORIES.fetch_add(1, Ordering::Relaxed);
}

/// `n` more blobs have been listed.
pub(crate) fn blobs_listed(n: u64) {
    BLOBS.fetch_add(n, Ordering::Relaxed);
}

/// One more deletion is done.
pub(crate) fn deleted() {
    if let Some(bar) = BAR.get() {
        bar.inc(1);
    }
}

/// Runs `f` (which writes to stderr) with the spinner line cleared.
pub(crate) fn suspend<R>(f: impl FnOnce() -> R) -> R {
    match BAR.get() {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// Set when the sweep starts; the planning message is then left alone.
static SWEEPING: AtomicBool = AtomicBool::new(false);

/// The sweep starts: from now on the line shows deletions done against
/// `total` (the bar's position and length), redrawn at once.
pub(crate) fn sweeping(total: u64) {
    SWEEPING.store(true, Ordering::Relaxed);
    if let Some(bar) = BAR.get() {
        bar.set_length(total);
        bar.set_position(0);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {elapsed} sweeping: {pos}/{len} deletions")
        {
            bar.set_style(style);
        }
        bar.tick();
    }
}

fn planning_message() -> String {
    format!(
        "planning: {} repositories marked, {} blobs listed",
        REPOSITORIES.load(Ordering::Relaxed),
        BLOBS.load(Ordering::Relaxed)
    )
}

/// The spinner; only one per process. Dropping it clears the line.
pub struct Spinner {
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts the spinner on stderr (the caller checks it is a terminal).
    pub fn start() -> Option<Spinner> {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").ok()?);
        BAR.set(bar.clone()).ok()?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (bar, stop) = (bar.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if !SWEEPING.load(Ordering::Relaxed) {
                        bar.set_message(planning_message());
                    }
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(120));
                }
            })
        };
        Some(Spinner {
            bar,
            stop,
            ticker: Some(ticker),
        })
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}
