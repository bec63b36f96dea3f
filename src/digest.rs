//! Content digests as stored in link files and blob paths.
//!
//! Parsing follows `github.com/opencontainers/go-digest` exactly (same error
//! texts) and never trims: a link file holding `sha256:<hex>\n` is invalid.

use std::fmt;

/// A digest algorithm the registry accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    /// Name as written in digests and in `blobs/<alg>/` paths.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Looks an algorithm up by its name.
    pub(crate) fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha384" => Some(Algorithm::Sha384),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// Length of the hex-encoded part.
    pub(crate) fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A parsed digest. sha256 (the only algorithm seen in practice) is stored
/// inline as 32 bytes; the rare longer ones are boxed to keep sets compact.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Digest {
    Sha256([u8; 32]),
    Sha384(Box<[u8; 48]>),
    Sha512(Box<[u8; 64]>),
}

/// Why a string is not a valid digest (go-digest's messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DigestError {
    #[error("invalid checksum digest format")]
    InvalidFormat,
    #[error("invalid checksum digest length")]
    InvalidLength,
    #[error("unsupported digest algorithm")]
    Unsupported,
}

impl Digest {
    /// Parses `<alg>:<hex>` strictly, as go-digest's `Validate` does.
    pub(crate) fn parse(s: &str) -> Result<Digest, DigestError> {
        let colon = match s.find(':') {
            Some(i) if i > 0 && i + 1 < s.len() => i,
            _ => return Err(DigestError::InvalidFormat),
        };
        let (alg, hex) = (&s[..colon], &s[colon + 1..]);
        match Algorithm::from_name(alg) {
            Some(alg) => Digest::from_hex(alg, hex),
            None if looks_like_digest(alg, hex) => Err(DigestError::Unsupported),
            None => Err(DigestError::InvalidFormat),
        }
    }

    /// Parses raw link-file bytes (which must be UTF-8 and exactly a digest).
    pub(crate) fn parse_bytes(b: &[u8]) -> Result<Digest, DigestError> {
        std::str::from_utf8(b)
            .map_err(|_| DigestError::InvalidFormat)
            .and_then(Digest::parse)
    }

    /// Builds a digest from an algorithm and its lowercase hex encoding.
    pub(crate) fn from_hex(alg: Algorithm, hex: &str) -> Result<Digest, DigestError> {
        if hex.len() != alg.hex_len() {
            return Err(DigestError::InvalidLength);
        }
        let decode = |out: &mut [u8]| decode_lower_hex(hex.as_bytes(), out);
        Ok(match alg {
            Algorithm::Sha256 => {
                let mut b = [0u8; 32];
                decode(&mut b)?;
                Digest::Sha256(b)
            }
            Algorithm::Sha384 => {
                let mut b = Box::new([0u8; 48]);
                decode(&mut b[..])?;
                Digest::Sha384(b)
            }
            Algorithm::Sha512 => {
                let mut b = Box::new([0u8; 64]);
                decode(&mut b[..])?;
                Digest::Sha512(b)
            }
        })
    }

    /// Digest of `content` with sha256.
    #[cfg(test)]
    pub(crate) fn sha256_of(content: &[u8]) -> Digest {
        Digest::of(Algorithm::Sha256, content)
    }

    /// Digest of `content` with `alg`.
    pub(crate) fn of(alg: Algorithm, content: &[u8]) -> Digest {
        use sha2::Digest as _;
        match alg {
            Algorithm::Sha256 => Digest::Sha256(sha2::Sha256::digest(content).into()),
            Algorithm::Sha384 => Digest::Sha384(Box::new(sha2::Sha384::digest(content).into())),
            Algorithm::Sha512 => Digest::Sha512(Box::new(sha2::Sha512::digest(content).into())),
        }
    }

    /// Whether `content` hashes to this digest.
    pub(crate) fn matches(&self, content: &[u8]) -> bool {
        Digest::of(self.algorithm(), content) == *self
    }

    /// The digest's algorithm.
    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Digest::Sha256(_) => Algorithm::Sha256,
            Digest::Sha384(_) => Algorithm::Sha384,
            Digest::Sha512(_) => Algorithm::Sha512,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Digest::Sha256(b) => b,
            Digest::Sha384(b) => &b[..],
            Digest::Sha512(b) => &b[..],
        }
    }

    /// Lowercase hex encoding (the path component).
    pub(crate) fn hex(&self) -> String {
        hex::encode(self.bytes())
    }

    /// The first two digits of [`Digest::hex`]: the name of the blob's prefix
    /// directory (`blobs/<alg>/<hh>`), without encoding the rest.
    pub(crate) fn prefix(&self) -> [u8; 2] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let first = self.bytes()[0];
        [
            DIGITS[usize::from(first >> 4)],
            DIGITS[usize::from(first & 0xf)],
        ]
    }
}

/// Value of each lowercase hex digit; 0xff for every other byte.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Decodes lowercase hex (`hex` is twice as long as `out`) in one pass: a
/// digest is decoded for every blob, link and reference, hundreds of
/// thousands of times on a large store.
fn decode_lower_hex(hex: &[u8], out: &mut [u8]) -> Result<(), DigestError> {
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (hi, lo) = (HEX_VALUE[pair[0] as usize], HEX_VALUE[pair[1] as usize]);
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    if bad & 0xf0 != 0 {
        return Err(DigestError::InvalidFormat);
    }
    Ok(())
}

/// go-digest's `DigestRegexpAnchored` without the algorithm check, used
/// only to choose between "unsupported" and "invalid format".
fn looks_like_digest(alg: &str, hex: &str) -> bool {
    let alg_ok = alg.split(['.', '+', '_', '-']).all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    let hex_ok = hex
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'=' || c == b'_' || c == b'-');
    alg_ok && hex_ok
}

/// Serialized compactly, for the mark cache: one byte for the algorithm
/// (its position in [`ALGORITHMS`]), then the raw hash.
const ALGORITHMS: [Algorithm; 3] = [Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512];

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let alg = ALGORITHMS.iter().position(|a| *a == self.algorithm());
        let mut raw = Vec::with_capacity(65);
        raw.push(alg.unwrap_or_default() as u8);
        raw.extend_from_slice(self.bytes());
        s.serialize_bytes(&raw)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        struct Raw;
        impl serde::de::Visitor<'_> for Raw {
            type Value = Digest;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an algorithm byte and a raw hash")
            }
            fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<Digest, E> {
                let (alg, raw) = b.split_first().ok_or_else(|| E::custom("empty digest"))?;
                let alg = ALGORITHMS
                    .get(*alg as usize)
                    .ok_or_else(|| E::custom("unknown digest algorithm"))?;
                let bad = |_| E::custom(DigestError::InvalidLength);
                Ok(match alg {
                    Algorithm::Sha256 => Digest::Sha256(raw.try_into().map_err(bad)?),
                    Algorithm::Sha384 => Digest::Sha384(Box::new(raw.try_into().map_err(bad)?)),
                    Algorithm::Sha512 => Digest::Sha512(Box::new(raw.try_into().map_err(bad)?)),
                })
            }
        }
        d.deserialize_bytes(Raw)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm().name(), self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "fffe409406091f73cd9e93e113c16d73c417be88012a22cdd5ae2e6d5513a2d7";

    #[test]
    fn round_trips_sha256() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        assert_eq!(d.hex(), HEX);
        assert_eq!(std::mem::size_of::<Digest>(), 40);
    }

    #[test]
    fn the_prefix_is_the_first_two_hex_digits() {
        let mut hexes = vec![HEX.to_string()];
        hexes.extend((0..=255u8).map(|b| format!("{b:02x}{}", &HEX[2..])));
        for hex in &hexes {
            let d = Digest::from_hex(Algorithm::Sha256, hex).unwrap();
            assert_eq!(&d.prefix(), &hex.as_bytes()[..2], "{hex}");
        }
        for alg in [Algorithm::Sha384, Algorithm::Sha512] {
            let d = Digest::of(alg, b"x");
            assert_eq!(&d.prefix(), &d.hex().as_bytes()[..2]);
        }
    }

    #[test]
    fn serializes_compactly_and_checks_content() {
        let digests = [
            Digest::of(Algorithm::Sha256, b"x"),
            Digest::of(Algorithm::Sha384, b"x"),
            Digest::of(Algorithm::Sha512, b"x"),
        ];
        for d in &digests {
            let bytes = postcard::to_stdvec(d).unwrap();
            assert_eq!(bytes.len(), 2 + d.algorithm().hex_len() / 2);
            assert_eq!(&postcard::from_bytes::<Digest>(&bytes).unwrap(), d);
            assert!(d.matches(b"x") && !d.matches(b"y"));
        }
        assert_eq!(
            digests[0].to_string(),
            "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        );
        for bad in [&[1u8, 0][..], &[3, 0], &[0, 1, 2], &[]] {
            let mut framed = vec![bad.len() as u8];
            framed.extend_from_slice(bad);
            assert!(postcard::from_bytes::<Digest>(&framed).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_match_go_digest() {
        use DigestError::*;
        let cases = [
            ("", InvalidFormat),
            ("hello world", InvalidFormat),
            ("sha256:", InvalidFormat),
            (":abc", InvalidFormat),
            ("sha256:abc", InvalidLength),
            ("md5:d41d8cd98f00b204e9800998ecf8427e", Unsupported),
            ("garbage", InvalidFormat),
        ];
        for (s, want) in cases {
            assert_eq!(Digest::parse(s), Err(want), "{s:?}");
        }
        assert_eq!(
            Digest::parse(&format!("sha256:{HEX}\n")),
            Err(InvalidLength)
        );
        assert_eq!(
            Digest::parse(&format!("sha256:{}", HEX.to_uppercase())),
            Err(InvalidFormat)
        );
        assert_eq!(Digest::parse_bytes(&[0xff, 0xfe]), Err(InvalidFormat));
    }

    #[test]
    fn longer_algorithms() {
        let h384 = "a".repeat(96);
        let d = Digest::parse(&format!("sha384:{h384}")).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha384);
        assert_eq!(d.hex(), h384);
        assert_eq!(
            Digest::parse(&format!("sha512:{}", "0".repeat(64))),
            Err(DigestError::InvalidLength)
        );
    }
}
