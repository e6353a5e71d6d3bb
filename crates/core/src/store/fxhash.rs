//! A small, fast hasher for the store's message index (the FxHash of rustc): a delta looks its
//! message up by id on every frame, and SipHash's DoS resistance buys nothing here (the ids
//! come from the user's own server, and a view holds one conversation). No dependency.

use std::hash::{BuildHasherDefault, Hasher};

/// The hasher state: one word, mixed per 8 bytes of input.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            // A conversion, not a copy: one 8-byte load (a copy into a zeroed array compiled
            // to a `memcpy` call per word at opt-level "s").
            self.add(u64::from_le_bytes(
                <[u8; 8]>::try_from(chunk).unwrap_or_default(),
            ));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = 0u64;
            for (shift, byte) in rest.iter().enumerate() {
                word |= u64::from(*byte) << (8 * shift);
            }
            self.add(word);
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` hasher builder for [`FxHasher`].
pub type FxBuildHasher = BuildHasherDefault<FxHasher>;
