//! The link parser never panics, and accepts exactly what it prints.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_gc::digest::Digest;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = Digest::parse_bytes(data) {
        assert_eq!(d.to_string().as_bytes(), data);
    }
});
