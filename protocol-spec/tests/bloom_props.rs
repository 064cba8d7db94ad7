//! Property tests of the encoder: determinism, insensitivity to the trimmed
//! delimiters and to case, the bound on set bits, and key separation.
use proptest::prelude::*;
use protocol_spec::bloom::{
    BloomEncoder, DELIMITERS, MAINZELLISTE_HASH_FUNCTIONS, SiteKey, normalize,
};

/// Names as the Mainzelliste validator admits them, starting and ending with
/// a letter so the delimiter padding below is the only junk.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-zÄÖÜäöüß][A-Za-zÄÖÜäöüß' .-]{0,20}[A-Za-zÄÖÜäöüß]"
}

fn junk() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(DELIMITERS.to_vec()), 0..6)
        .prop_map(|v| v.into_iter().collect())
}

fn key() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn encoders(key: &[u8; 32]) -> [BloomEncoder; 2] {
    let key = SiteKey::from_bytes(key).unwrap();
    [
        BloomEncoder::mainzelliste(),
        BloomEncoder::keyed(&key, "nachname", 500, 15).unwrap(),
    ]
}

proptest! {
    #[test]
    fn deterministic(s in name(), k in key()) {
        for (a, b) in encoders(&k).iter().zip(encoders(&k).iter()) {
            prop_assert_eq!(a.encode(&s), b.encode(&s));
        }
    }

    #[test]
    fn independent_of_leading_and_trailing_junk(s in name(), pre in junk(), post in junk(), k in key()) {
        let padded = format!("{pre}{s}{post}");
        for enc in encoders(&k) {
            prop_assert_eq!(enc.encode(&padded), enc.encode(&s));
        }
    }

    #[test]
    fn case_insensitive(s in name(), k in key()) {
        for enc in encoders(&k) {
            prop_assert_eq!(enc.encode(&s.to_lowercase()), enc.encode(&s.to_uppercase()));
        }
    }

    #[test]
    fn at_most_k_bits_per_bigram(s in name(), k in key()) {
        let bigram_count = normalize(&s).chars().count() as u32 + 1;
        for enc in encoders(&k) {
            let bits = enc.encode(&s).unwrap();
            prop_assert!(bits.count_ones() >= 1);
            prop_assert!(bits.count_ones() <= MAINZELLISTE_HASH_FUNCTIONS * bigram_count);
        }
    }

    #[test]
    fn keyed_differs_from_unkeyed_and_between_keys(s in name(), k1 in key(), k2 in key()) {
        prop_assume!(k1 != k2);
        let [plain, keyed1] = encoders(&k1);
        let [_, keyed2] = encoders(&k2);
        let x = keyed1.encode(&s).unwrap();
        prop_assert_ne!(&x, &plain.encode(&s).unwrap());
        prop_assert_ne!(&x, &keyed2.encode(&s).unwrap());
    }
}
