//! The manifest parser never panics, and what it accepts has valid digests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_gc::digest::Digest;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = registry_gc::manifest::parse(data) {
        for r in m.references {
            assert_eq!(Digest::parse(&r.to_string()), Ok(r));
        }
    }
});
