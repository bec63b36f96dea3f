//! The set of marked digests, kept compact: one byte per enumerated blob,
//! and a hash set only for marked digests that no blob has (a reference to
//! a missing blob still counts as marked, as upstream counts it).

use crate::blobs::Blob;
use crate::digest::Digest;
use crate::mark::find_index;
use std::collections::HashSet;

/// Marked digests, relative to one sorted blob enumeration.
pub(crate) struct Marked<'a> {
    blobs: &'a [Blob],
    present: Vec<bool>,
    absent: HashSet<Digest>,
}

impl<'a> Marked<'a> {
    /// An empty set over `blobs` (sorted by digest).
    pub(crate) fn new(blobs: &'a [Blob]) -> Self {
        Marked {
            blobs,
            present: vec![false; blobs.len()],
            absent: HashSet::new(),
        }
    }

    /// Marks `d`.
    pub(crate) fn insert(&mut self, d: &Digest) {
        match find_index(self.blobs, d) {
            Some(i) => self.present[i] = true,
            None => {
                self.absent.insert(d.clone());
            }
        }
    }

    /// Whether the blob at position `i` of the enumeration is marked.
    pub(crate) fn has_blob(&self, i: usize) -> bool {
        self.present[i]
    }

    /// Number of distinct digests marked.
    pub(crate) fn len(&self) -> usize {
        self.present.iter().filter(|&&m| m).count() + self.absent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn blob(i: u8) -> Blob {
        Blob {
            digest: Digest::sha256_of(&[i]),
            size: 1,
            modified: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn counts_present_and_absent_digests_once_each() {
        let mut blobs: Vec<Blob> = (0..10).map(blob).collect();
        blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
        let mut m = Marked::new(&blobs);
        assert_eq!(m.len(), 0);
        let missing = Digest::sha256_of(b"missing");
        for d in [
            &blobs[3].digest,
            &blobs[3].digest,
            &missing,
            &missing,
            &blobs[7].digest,
        ] {
            m.insert(d);
        }
        assert_eq!(m.len(), 3);
        let marked: Vec<usize> = (0..blobs.len()).filter(|&i| m.has_blob(i)).collect();
        assert_eq!(marked, vec![3, 7]);
    }
}
