//! The Mainzelliste test vectors (computed independently with Java 17's
//! MessageDigest and a Python port, see /work/shared/notes/bloom-encoding.md)
//! and the properties of the keyed variant that do not need random input.
use protocol_spec::bloom::{BloomEncoder, SiteKey, bigrams, java_bitset_bytes, to_base64};
use protocol_spec::config::FieldBits;

fn dice(a: &FieldBits, b: &FieldBits) -> f64 {
    let common: u32 = a
        .as_bytes()
        .iter()
        .zip(b.as_bytes())
        .map(|(x, y)| (x & y).count_ones())
        .sum();
    2.0 * f64::from(common) / f64::from(a.count_ones() + b.count_ones())
}

fn ml(value: &str) -> FieldBits {
    BloomEncoder::mainzelliste()
        .encode(value)
        .expect("non-empty value")
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[test]
fn java_vector() {
    let bits = ml("JAVA");
    assert_eq!(bits.bitlength(), 500);
    assert_eq!(bits.count_ones(), 69);
    assert_eq!(
        to_base64(&bits),
        "B1BUBEEEFEAAFVQQZEEBVRAAoAAAAIEQAAABAhAAAAgAABAgECAAgUAQAIACAABAABACAAEEEARMAARQERQ="
    );
}

#[test]
fn mueller_vector_and_umlaut_folding() {
    let bits = ml("MUELLER");
    assert_eq!(bits.count_ones(), 99);
    assert_eq!(
        to_base64(&bits),
        "CgZqIwIgoACAlKgIiAAIAHIAmYgCKKHhAiAgIACBEMCADDYiYAoAGoAAggJGACABEIKJAogICgQCIAGS"
    );
    assert_eq!(ml("Müller"), bits);
    assert_eq!(ml(" müller-"), bits);
    assert_eq!(ml("Mueller"), bits);
}

#[test]
fn dice_vectors() {
    let muller = ml("MULLER");
    assert_eq!(muller.count_ones(), 87);
    assert_eq!(round4(dice(&ml("MUELLER"), &muller)), 0.8065);
    assert_eq!(round4(dice(&ml("MEYER"), &ml("MEIER"))), 0.6490);
    assert_eq!(dice(&ml("MEYER"), &ml("meyer")), 1.0);
}

#[test]
fn bit_order_is_java_bitset_order() {
    // Every set bit of the filter must be one of the positions of its bigrams,
    // read back in BitSet order (byte i/8, mask 1 << (i % 8)).
    let enc = BloomEncoder::mainzelliste();
    let bits = ml("JAVA");
    let mut expected = vec![false; 500];
    let mut positions = Vec::new();
    for g in bigrams("JAVA") {
        positions.clear();
        enc.positions(&g, &mut positions);
        assert_eq!(positions.len(), 15);
        for &p in &positions {
            expected[p as usize] = true;
        }
    }
    let bytes = java_bitset_bytes(&bits);
    for (i, &want) in expected.iter().enumerate() {
        let byte = bytes.get(i / 8).copied().unwrap_or(0);
        assert_eq!((byte >> (i % 8)) & 1 == 1, want, "bit {i}");
    }
    assert!(bytes.len() <= 63);
    assert_ne!(*bytes.last().unwrap(), 0);
}

#[test]
fn empty_after_normalisation_is_no_filter() {
    let enc = BloomEncoder::mainzelliste();
    assert_eq!(enc.encode(""), None);
    assert_eq!(enc.encode(" -.;'"), None);
    // encode_normalized does not treat "" specially: it is the bigram "  ".
    assert_eq!(enc.encode_normalized("").count_ones(), 15);
}

#[test]
fn keyed_differs_from_unkeyed_and_between_keys_and_domains() {
    let k1 = SiteKey::from_bytes(&[0x11; 32]).unwrap();
    let k2 = SiteKey::from_bytes(&[0x22; 32]).unwrap();
    let a = BloomEncoder::keyed(&k1, "nachname", 500, 15).unwrap();
    let b = BloomEncoder::keyed(&k2, "nachname", 500, 15).unwrap();
    let c = BloomEncoder::keyed(&k1, "ort", 500, 15).unwrap();
    let a2 = BloomEncoder::keyed(&k1, "nachname", 500, 15).unwrap();
    let x = a.encode("Müller").unwrap();
    assert_ne!(x, ml("Müller"));
    assert_ne!(x, b.encode("Müller").unwrap());
    assert_ne!(x, c.encode("Müller").unwrap());
    assert_eq!(x, a2.encode("MUELLER").unwrap());
    // Similar names stay similar under the key: that is the point of a
    // Bloom filter and must survive keying.
    let y = a.encode("Muller").unwrap();
    assert!(dice(&x, &y) > 0.7, "{}", dice(&x, &y));
}

#[test]
fn keyed_positions_are_a_fixed_function_of_key_domain_and_bigram() {
    // A regression vector for the keyed construction of SPEC.md §4, so an
    // accidental change of the message layout is caught (both sites must
    // agree on it). Computed independently with Python's hmac module from
    // the description in SPEC.md §4 (keyed mode).
    let key = SiteKey::from_bytes(&(0u8..32).collect::<Vec<_>>()).unwrap();
    let enc = BloomEncoder::keyed(&key, "vorname", 500, 15).unwrap();
    let mut p = Vec::new();
    enc.positions(" J", &mut p);
    assert_eq!(p, KEYED_VECTOR_J);
}

/// Positions of bigram `" J"` in domain `vorname` under key 00 01 .. 1f.
const KEYED_VECTOR_J: [u32; 15] = [
    96, 292, 239, 406, 378, 205, 375, 319, 354, 469, 239, 112, 389, 278, 237,
];

#[test]
fn encoder_parameters_are_validated() {
    let key = SiteKey::from_bytes(&[1; 16]).unwrap();
    assert!(BloomEncoder::unkeyed(0, 15).is_err());
    assert!(BloomEncoder::unkeyed(500, 0).is_err());
    assert!(BloomEncoder::keyed(&key, "f", 65537, 15).is_err());
    assert!(SiteKey::from_bytes(&[1; 15]).is_err());
    let enc = BloomEncoder::unkeyed(1000, 20).unwrap();
    let bits = enc.encode("Schmidt").unwrap();
    assert_eq!(bits.bitlength(), 1000);
    assert!(bits.count_ones() <= 20 * 8);
}
