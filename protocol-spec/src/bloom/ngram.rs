//! Space-padded n-grams, as Mainzelliste's `BloomFilterTransformer` cuts them.

/// The n-gram length (bigrams). Padding is `NGRAM_LEN - 1` spaces per side.
pub const NGRAM_LEN: usize = 2;

/// The bigrams of `normalized`, padded with one space on each side:
/// `"JAVA"` → `" J"`, `"JA"`, `"AV"`, `"VA"`, `"A "`. Duplicates are kept
/// (they set the same bits again).
///
/// Bigrams are cut on Unicode scalar values. Java cuts on UTF-16 code units,
/// which differs only for characters outside the Basic Multilingual Plane
/// (Java would split the surrogate pair and hash `?` for each half); see
/// SPEC.md §4.
pub fn bigrams(normalized: &str) -> Vec<String> {
    let padded: Vec<char> = std::iter::repeat_n(' ', NGRAM_LEN - 1)
        .chain(normalized.chars())
        .chain(std::iter::repeat_n(' ', NGRAM_LEN - 1))
        .collect();
    padded
        .windows(NGRAM_LEN)
        .map(|w| w.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::bigrams;

    #[test]
    fn pads_with_one_space() {
        assert_eq!(bigrams("JAVA"), [" J", "JA", "AV", "VA", "A "]);
        assert_eq!(bigrams("A"), [" A", "A "]);
        assert_eq!(bigrams(""), ["  "]);
        assert_eq!(bigrams("ÉÉ"), [" É", "ÉÉ", "É "]);
    }
}
