//! `storage.filesystem.maxthreads` caps the pool the store walks run on.

mod support;

use support::*;

fn pool_line(store: &Store, io_threads: &str) -> String {
    let o = ours_command(store, &["-d"])
        .env("RGC_IO_THREADS", io_threads)
        .output()
        .unwrap();
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    stderr
        .lines()
        .find(|l| l.contains("I/O pool: "))
        .unwrap_or_else(|| panic!("no I/O pool line:\n{stderr}"))
        .to_string()
}

#[test]
fn maxthreads_caps_the_io_pool() {
    let store = fixture_copy("demo");
    store.write_config("log:\n  level: debug\n");
    assert!(pool_line(&store, "40").contains("msg=\"I/O pool: 40 threads\""));
    store.write_config(&format!(
        "log:\n  level: debug\nstorage:\n  filesystem:\n    rootdirectory: {}\n    maxthreads: 30\n",
        store.root.display()
    ));
    let line = pool_line(&store, "40");
    assert!(line.contains("msg=\"I/O pool: 30 threads\""), "{line}");
}
