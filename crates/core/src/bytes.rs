//! String equality and order a word at a time, for the ids the store compares on every streamed
//! frame (session, message and block ids, often 30 bytes with a shared prefix).
//!
//! Why: wasm32 has no memcmp instruction, and the `memcmp` the Wasm package links is a loop over
//! single bytes; comparing ids was a tenth of `receive`'s time. Natively this is no slower than
//! `==` (the tests check both agree with std on every pair they try).

use std::cmp::Ordering;

/// The next 8 bytes as a big-endian word (so words order as the bytes do). A conversion, not a
/// copy: one 8-byte load (a copy into a zeroed array compiles to a `memcpy` call per word).
#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    u64::from_be_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default())
}

/// `a == b`.
#[cfg_attr(sessionwire_size, optimize(speed))]
#[inline]
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    // Index loops, not iterator adapters: the package's size build does not inline those.
    let mut at = 0;
    while at + 8 <= a.len() {
        if word(&a[at..at + 8]) != word(&b[at..at + 8]) {
            return false;
        }
        at += 8;
    }
    while at < a.len() {
        if a[at] != b[at] {
            return false;
        }
        at += 1;
    }
    true
}

/// `a.cmp(b)`: byte order, as `str`'s.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let shorter = a.len().min(b.len());
    let mut at = 0;
    while at + 8 <= shorter {
        let (x, y) = (word(&a[at..at + 8]), word(&b[at..at + 8]));
        if x != y {
            return x.cmp(&y);
        }
        at += 8;
    }
    while at < shorter {
        if a[at] != b[at] {
            return a[at].cmp(&b[at]);
        }
        at += 1;
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agree_with_std() {
        let texts = [
            "",
            "a",
            "b",
            "ab",
            "abcdefg",
            "abcdefgh",
            "abcdefgi",
            "abcdefgh0",
            "abcdefgh1",
            "s-01HZX3Q9K2V7-0000000000000001",
            "s-01HZX3Q9K2V7-0000000000000002",
            "s-01HZX3Q9K2V7-000000000000000",
            "s-01HZX3Q9K2V7-00000000000000010",
            "m-é-ü",
            "m-é-v",
            "\u{ff}\u{ff}\u{ff}\u{ff}",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(same(a, b), a == b, "{a:?} == {b:?}");
                assert_eq!(compare(a, b), a.cmp(b), "{a:?} cmp {b:?}");
            }
        }
    }
}
