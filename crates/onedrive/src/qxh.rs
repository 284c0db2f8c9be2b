//! quickXorHash, the hash OneDrive reports for every file (GRAPH.md §4).
//!
//! A 160-bit state; input byte `i` (stream position) is XORed in rotated
//! left by `(i * 11) mod 160` bits; the total length (u64, little-endian)
//! is XORed into the last 8 bytes; the 20 bytes are sent as standard
//! base64 with padding. Because `(i * 11) mod 160` depends only on
//! `i mod 1760`, bytes are folded into a 1760-byte accumulator while
//! streaming (rclone's form) and rotated into place once at the end.

use base64::Engine as _;

const WIDTH_BITS: usize = 160;
const SHIFT: usize = 11;
/// Period of the shift pattern: 11 × 160 bits.
const PERIOD: usize = SHIFT * WIDTH_BITS;

/// Streaming quickXorHash.
#[derive(Clone)]
pub struct QuickXorHash {
    acc: Box<[u8; PERIOD]>,
    len: u64,
}

impl std::fmt::Debug for QuickXorHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuickXorHash").field("len", &self.len).finish_non_exhaustive()
    }
}

impl Default for QuickXorHash {
    fn default() -> Self {
        Self::new()
    }
}

impl QuickXorHash {
    /// An empty hash.
    #[must_use]
    pub fn new() -> Self {
        Self { acc: Box::new([0; PERIOD]), len: 0 }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        let mut pos = usize::try_from(self.len % PERIOD as u64).expect("small");
        for chunk in data.chunks(PERIOD) {
            for &b in chunk {
                self.acc[pos] ^= b;
                pos += 1;
                if pos == PERIOD {
                    pos = 0;
                }
            }
        }
        self.len += data.len() as u64;
    }

    /// Bytes fed so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was fed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The 20-byte digest.
    #[must_use]
    pub fn digest(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (j, &b) in self.acc.iter().enumerate() {
            if b == 0 {
                continue;
            }
            let shift = (j * SHIFT) % WIDTH_BITS;
            for k in 0..8 {
                if (b >> k) & 1 == 1 {
                    let bit = (shift + k) % WIDTH_BITS;
                    out[bit / 8] ^= 1 << (bit % 8);
                }
            }
        }
        for (k, lb) in self.len.to_le_bytes().iter().enumerate() {
            out[12 + k] ^= lb;
        }
        out
    }

    /// The digest as Graph reports it (standard base64, 28 characters).
    #[must_use]
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.digest())
    }
}

/// quickXorHash of `data`, base64.
#[must_use]
pub fn quick_xor_hash(data: &[u8]) -> String {
    let mut h = QuickXorHash::new();
    h.update(data);
    h.base64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn b64(s: &str) -> Vec<u8> {
        STANDARD.decode(s).unwrap()
    }

    /// Published vectors (GRAPH.md §4.2, from rclone's quickxorhash_test.go,
    /// the `quickxorhash` crate docs and the PyPI README).
    #[test]
    fn published_vectors() {
        assert_eq!(quick_xor_hash(b""), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(quick_xor_hash(&b64("Sg==")), "SgAAAAAAAAAAAAAAAQAAAAAAAAA=");
        assert_eq!(quick_xor_hash(&b64("tbQ=")), "taAFAAAAAAAAAAAAAgAAAAAAAAA=");
        assert_eq!(quick_xor_hash(&b64("2fuxhBJXtpWFe8dOfdGeHw==")), "O9tHLAghgSvYohKFyMMxnNCHaHg=");
        assert_eq!(quick_xor_hash(b"hello world"), "aCgDG9jwBhDc4Q1yawMZAAAAAAA=");
        let mut h = QuickXorHash::new();
        h.update(b"hello world");
        assert_eq!(h.digest(), [104, 40, 3, 27, 216, 240, 6, 16, 220, 225, 13, 114, 107, 3, 25, 0, 0, 0, 0, 0]);
    }

    /// The plain definition (rotate each byte into a 160-bit state), to
    /// check the accumulator form past the 1760-byte period.
    fn reference(data: &[u8]) -> [u8; 20] {
        let mut s = [0u8; 20];
        for (i, &b) in data.iter().enumerate() {
            let shift = (i * 11) % 160;
            for k in 0..8 {
                if (b >> k) & 1 == 1 {
                    let bit = (shift + k) % 160;
                    s[bit / 8] ^= 1 << (bit % 8);
                }
            }
        }
        for (k, lb) in (data.len() as u64).to_le_bytes().iter().enumerate() {
            s[12 + k] ^= lb;
        }
        s
    }

    #[test]
    fn split_writes_equal_one_shot_and_reference() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let one = {
            let mut h = QuickXorHash::new();
            h.update(&data);
            h.digest()
        };
        assert_eq!(one, reference(&data));
        for split in [1usize, 7, 1759, 1760, 1761, 4096] {
            let mut h = QuickXorHash::new();
            for c in data.chunks(split) {
                h.update(c);
            }
            assert_eq!(h.digest(), one, "split {split}");
        }
        assert_eq!(QuickXorHash::new().len(), 0);
    }
}
