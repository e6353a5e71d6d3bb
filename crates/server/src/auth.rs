//! Users: with no tokens configured everyone is one anonymous user; otherwise each token is a
//! user, who owns the sessions it creates.

/// The owner of sessions when no tokens are configured.
pub const ANONYMOUS: &str = "anonymous";

/// Who a connection is, once `hello` was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct User(pub String);

/// Checks `hello.token` against the configured tokens.
///
/// The stored owner is a stable hash of the token, never the token itself, so the database does
/// not hold credentials. Comparison walks every configured token so that timing reveals little.
pub fn authenticate(tokens: &[String], offered: Option<&str>) -> Option<User> {
    if tokens.is_empty() {
        return Some(User(ANONYMOUS.to_owned()));
    }
    let offered = offered?;
    let mut matched = false;
    for token in tokens {
        matched |= constant_time_eq(token.as_bytes(), offered.as_bytes());
    }
    matched.then(|| User(format!("user-{:016x}", fnv1a(offered.as_bytes()))))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// FNV-1a, 64 bits: stable across Rust versions (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_tokens_means_one_anonymous_user() {
        assert_eq!(authenticate(&[], None), Some(User(ANONYMOUS.into())));
        assert_eq!(authenticate(&[], Some("x")), Some(User(ANONYMOUS.into())));
    }

    #[test]
    fn each_token_is_its_own_user() {
        let tokens = vec!["alpha".to_owned(), "beta".to_owned()];
        let a = authenticate(&tokens, Some("alpha"));
        let b = authenticate(&tokens, Some("beta"));
        assert!(a.is_some() && b.is_some() && a != b);
        assert_eq!(authenticate(&tokens, Some("gamma")), None);
        assert_eq!(authenticate(&tokens, None), None);
    }
}
