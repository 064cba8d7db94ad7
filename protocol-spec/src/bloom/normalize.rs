//! Mainzelliste's `StringNormalizer`, reproduced so that both sites turn the
//! same spelling into the same bigrams.
//!
//! Why these exact rules: a Bloom filter only matches another one if both
//! sites normalised identically, and existing Mainzelliste databases were
//! normalised this way. Any "improvement" here (NFC, accent folding, collapsing
//! inner blanks) would silently lower the Dice score against filters made by
//! Mainzelliste, so the rules are kept literally and their gaps documented in
//! SPEC.md §4 instead.

/// Characters removed from both ends of the value (`' ' . : , ; - '`).
///
/// Only these seven: tabs and other white space are *not* trimmed, exactly as
/// in Mainzelliste.
pub const DELIMITERS: [char; 7] = [' ', '.', ':', ',', ';', '-', '\''];

/// Normalises one field value the way Mainzelliste's `StringNormalizer` does.
///
/// 1. Leading and trailing [`DELIMITERS`] are removed (inner ones stay:
///    `"Meyer-Lüdenscheidt"` keeps its hyphen).
/// 2. `ä ö ü` become `ae oe ue`, `Ä Ö Ü` become `AE OE UE`, `ß` becomes `ss`.
///    No other diacritic is folded (`é` stays `É`).
/// 3. The result is upper-cased with the Unicode default full case mapping
///    (Rust's `str::to_uppercase`). For Latin script this equals Java's
///    `String.toUpperCase()`; it is locale-independent, i.e. it behaves like
///    Java with `Locale.ROOT` even where Java would use a Turkish or
///    Lithuanian default locale (`i` → `I`, never `İ`). Other scripts get their
///    Unicode upper case (Greek, Cyrillic, ...) and scripts without case are
///    unchanged; results can differ from a Java runtime only where the two
///    runtimes ship different Unicode versions.
///
/// An input that is empty after step 1 yields the empty string, which callers
/// treat as an empty field.
pub fn normalize(raw: &str) -> String {
    let trimmed = raw.trim_matches(|c: char| DELIMITERS.contains(&c));
    let mut folded = String::with_capacity(trimmed.len() + 4);
    for c in trimmed.chars() {
        match c {
            'ä' => folded.push_str("ae"),
            'Ä' => folded.push_str("AE"),
            'ö' => folded.push_str("oe"),
            'Ö' => folded.push_str("OE"),
            'ü' => folded.push_str("ue"),
            'Ü' => folded.push_str("UE"),
            'ß' => folded.push_str("ss"),
            other => folded.push(other),
        }
    }
    folded.to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn trims_only_the_mainzelliste_delimiters() {
        assert_eq!(normalize(" .:,;-'Müller'-;,:. "), "MUELLER");
        assert_eq!(normalize("\tMeyer"), "\tMEYER");
        assert_eq!(normalize("Meyer-Lüdenscheidt"), "MEYER-LUEDENSCHEIDT");
        assert_eq!(normalize("--"), "");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn folds_umlauts_and_sharp_s() {
        assert_eq!(normalize("Äöüß"), "AEOEUESS");
        assert_eq!(normalize("ÖZTÜRK"), "OEZTUERK");
        assert_eq!(normalize("Strauß"), "STRAUSS");
    }

    #[test]
    fn leaves_other_diacritics_and_upper_cases_other_scripts() {
        assert_eq!(normalize("José"), "JOSÉ");
        assert_eq!(normalize("Łukasz"), "ŁUKASZ");
        assert_eq!(normalize("Ψαρρός"), "ΨΑΡΡΌΣ");
        assert_eq!(normalize("Иванов"), "ИВАНОВ");
        // Locale-independent: no dotted capital I.
        assert_eq!(normalize("yildiz"), "YILDIZ");
    }
}
