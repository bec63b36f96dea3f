//! A tiny deterministic pseudo-random generator (SplitMix64).
//!
//! Every independent part of the store (a repository, a shared layer, an orphan) gets its own
//! stream derived from `(seed, stream kind, index)`, so output does not depend on thread
//! scheduling.

/// Stream kinds, mixed into the seed so different parts never share a sequence.
#[derive(Clone, Copy)]
pub enum Stream {
    Repository = 1,
    SharedLayer = 2,
    Orphan = 3,
}

/// SplitMix64 state.
pub struct Rng(u64);

/// The SplitMix64 output function: a good 64-bit bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// The generator for item `index` of `stream`, under `seed`.
    pub fn for_stream(seed: u64, stream: Stream, index: u64) -> Self {
        let base = mix(seed ^ mix(stream as u64));
        Rng(mix(base ^ mix(index.wrapping_add(0x9e37_79b9_7f4a_7c15))))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` (`n > 0`); the tiny modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Appends `len` random bytes to `buf`.
    pub fn extend_bytes(&mut self, buf: &mut Vec<u8>, len: usize) {
        buf.reserve(len);
        let mut left = len;
        while left > 0 {
            let word = self.next_u64().to_le_bytes();
            let take = left.min(word.len());
            buf.extend_from_slice(&word[..take]);
            left -= take;
        }
    }
}
