//! The token grammar, value normalisation and base62.
//!
//! Every token is `PHI__<CATEGORY>__<TAIL>`: `CATEGORY` is the category
//! name upper-cased (`[A-Z][A-Z0-9_]*`), `TAIL` is base62 (`[0-9A-Za-z]`).
//! A tail of exactly [`STORED_TAIL_LEN`] characters is a *stored* token (a
//! keyed hash; the value lives in a store); a longer tail is a *sealed*
//! token (the value itself, AES-256-GCM sealed, base62-encoded).
//!
//! In text a token is a maximal run of ASCII word characters
//! (`[A-Za-z0-9_]`) that has this grammar. Because the tail has no `_`, the
//! last `__` of the run separates category and tail, so a category that
//! itself contains `__` is still read unambiguously; and because the run is
//! maximal, `xPHI__…` or `PHI__…_x` is never taken for a token.
use std::sync::LazyLock;

use regex::Regex;

/// Prefix of every token.
pub const TOKEN_PREFIX: &str = "PHI__";
/// Length of a stored token's tail: 12 base62 characters, about 71 bits.
pub const STORED_TAIL_LEN: usize = 12;
/// Longest tail accepted for a sealed token: the tail of the longest value
/// the sealed backend seals (512 bytes: 1 + 12 + 512 + 16 sealed bytes give
/// at most 727 base62 characters). It bounds the base62 decoding work a
/// client can ask for, which is quadratic in the length.
pub const MAX_SEALED_TAIL_LEN: usize = 730;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Runs of ASCII word characters that contain the prefix; [`parse`] decides.
static CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9_]*PHI__[A-Za-z0-9_]*").expect("the candidate regex compiles")
});

/// The two kinds of token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyed hash of category and value; resolved through a store.
    Stored,
    /// Carries its value sealed; resolved with the key alone.
    Sealed,
}

/// A token split into its parts (borrowed from the token text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenParts<'a> {
    /// Upper-case category as written in the token.
    pub category: &'a str,
    pub tail: &'a str,
    pub kind: TokenKind,
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_token_category(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z'))
        && bytes.all(|b| matches!(b, b'A'..=b'Z' | b'0'..=b'9' | b'_'))
}

/// Splits `token` if it has the token grammar (the whole string).
pub fn parse(token: &str) -> Option<TokenParts<'_>> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (category, tail) = rest.rsplit_once("__")?;
    if !is_token_category(category) || !is_base62(tail) {
        return None;
    }
    let kind = match tail.len() {
        STORED_TAIL_LEN => TokenKind::Stored,
        n if n > STORED_TAIL_LEN && n <= MAX_SEALED_TAIL_LEN => TokenKind::Sealed,
        _ => return None,
    };
    Some(TokenParts {
        category,
        tail,
        kind,
    })
}

/// Byte ranges of the tokens in `text`, in order, not overlapping.
pub fn find(text: &str) -> Vec<std::ops::Range<usize>> {
    CANDIDATE
        .find_iter(text)
        .filter(|m| parse(m.as_str()).is_some())
        .map(|m| m.range())
        .collect()
}

/// `PHI__<CATEGORY>__<tail>` for a category name (`[a-z][a-z0-9_]*`).
pub fn assemble(category: &str, tail: &str) -> String {
    let mut out = String::with_capacity(TOKEN_PREFIX.len() + category.len() + 2 + tail.len());
    out.push_str(TOKEN_PREFIX);
    out.push_str(&category.to_ascii_uppercase());
    out.push_str("__");
    out.push_str(tail);
    out
}

/// The normal form a value is hashed, indexed and stored in: surrounding
/// white space removed and every inner run of white space (Unicode
/// `White_Space`, so also line breaks and no-break spaces) replaced by one
/// ASCII space. Case and everything else are kept: `"SMITH"` and `"Smith"`
/// are different values. No Unicode normalisation (NFC) is applied: the
/// workspace has no crate for it, and the engine finds values as written.
pub fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The 12-character tail of a stored token from a 32-byte keyed hash: the
/// first 16 bytes as a big-endian integer, its 12 lowest base62 digits.
/// 62^12 is far below 2^128, so every tail is almost exactly equally likely.
pub fn stored_tail(digest: &[u8; 32]) -> String {
    let mut n = u128::from_be_bytes(digest[..16].try_into().expect("16 bytes"));
    let mut out = [0u8; STORED_TAIL_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("the alphabet is ASCII")
}

/// Base62 of `bytes` read as a big-endian integer. Leading zero bytes are
/// not representable; callers encode data whose first byte is non-zero
/// (a sealed value starts with its format byte, 1).
pub fn base62_encode(bytes: &[u8]) -> String {
    let mut number: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    let mut digits = Vec::with_capacity(bytes.len() * 4 / 3 + 1);
    while !number.is_empty() {
        let mut remainder = 0u32;
        let mut quotient = Vec::with_capacity(number.len());
        for &byte in &number {
            let acc = (remainder << 8) | u32::from(byte);
            let q = acc / 62;
            remainder = acc % 62;
            if !(quotient.is_empty() && q == 0) {
                quotient.push(q as u8);
            }
        }
        digits.push(ALPHABET[remainder as usize]);
        number = quotient;
    }
    digits.reverse();
    String::from_utf8(digits).expect("the alphabet is ASCII")
}

/// Inverse of [`base62_encode`]; `None` for a character outside the
/// alphabet.
pub fn base62_decode(text: &str) -> Option<Vec<u8>> {
    let mut number: Vec<u8> = Vec::with_capacity(text.len() * 3 / 4 + 1);
    for c in text.bytes() {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        };
        // number = number * 62 + digit, little-endian bytes.
        let mut carry = u32::from(digit);
        for byte in number.iter_mut() {
            let acc = u32::from(*byte) * 62 + carry;
            *byte = (acc & 0xff) as u8;
            carry = acc >> 8;
        }
        while carry > 0 {
            number.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    number.reverse();
    Some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_exactly_the_grammar() {
        let t = parse("PHI__NAME__aBcD1234efGh").unwrap();
        assert_eq!(
            (t.category, t.tail, t.kind),
            ("NAME", "aBcD1234efGh", TokenKind::Stored)
        );
        let t = parse("PHI__HEALTH__PLAN__aBcD1234efGh").unwrap();
        assert_eq!(t.category, "HEALTH__PLAN");
        let long = "a".repeat(40);
        assert_eq!(
            parse(&format!("PHI__SSN__{long}")).unwrap().kind,
            TokenKind::Sealed
        );
        for bad in [
            "PHI__NAME__aBcD1234efG",   // 11 characters
            "PHI__name__aBcD1234efGh",  // lower-case category
            "PHI__1NAME__aBcD1234efGh", // category starts with a digit
            "PHI____aBcD1234efGh",      // empty category
            "PHI__NAME__aBcD1234ef-h",  // not base62
            "PHI__NAME__aBcD_234efGh",  // `_` in the tail
            "PHX__NAME__aBcD1234efGh",
            "PHI__NAMEaBcD1234efGh",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        let too_long = "a".repeat(MAX_SEALED_TAIL_LEN + 1);
        assert!(parse(&format!("PHI__SSN__{too_long}")).is_none());
    }

    #[test]
    fn find_takes_maximal_runs_only() {
        let text = "A PHI__NAME__aBcD1234efGh, xPHI__NAME__aBcD1234efGh PHI__NAME__aBcD1234efGh_ \
                    (PHI__SSN__000000000000)PHI__DATE__zzzzzzzzzzzz.Müller PHI__ZIP__111111111111";
        let found: Vec<&str> = find(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(
            found,
            [
                "PHI__NAME__aBcD1234efGh",
                "PHI__SSN__000000000000",
                "PHI__DATE__zzzzzzzzzzzz",
                "PHI__ZIP__111111111111"
            ]
        );
    }

    #[test]
    fn normalise_trims_and_collapses_white_space_only() {
        assert_eq!(normalise("  John \n\t Smith\u{a0} "), "John Smith");
        assert_eq!(normalise("SMITH"), "SMITH");
        assert_ne!(normalise("Smith"), normalise("SMITH"));
        assert_eq!(normalise("Zoë  Ångström"), "Zoë Ångström");
    }

    #[test]
    fn stored_tail_is_deterministic_base62_of_fixed_length() {
        let a = stored_tail(&[7u8; 32]);
        assert_eq!(a, stored_tail(&[7u8; 32]));
        assert_eq!(a.len(), STORED_TAIL_LEN);
        assert!(is_base62(&a));
        assert_ne!(a, stored_tail(&[8u8; 32]));
        assert_eq!(stored_tail(&[0u8; 32]), "000000000000");
    }

    #[test]
    fn base62_round_trips_data_with_a_non_zero_first_byte() {
        for data in [
            vec![1u8],
            vec![1, 0, 0, 255],
            (1..=200u8).collect::<Vec<_>>(),
            vec![255; 64],
        ] {
            let text = base62_encode(&data);
            assert!(is_base62(&text));
            assert_eq!(base62_decode(&text).unwrap(), data);
        }
        assert_eq!(base62_encode(&[61]), "z");
        assert_eq!(base62_encode(&[62]), "10");
        assert!(base62_decode("ab-c").is_none());
    }
}
