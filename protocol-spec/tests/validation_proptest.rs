//! Property tests of the value encoding: bitmask encode → decode for random
//! bit sets and lengths, integer bounds for every bit length, and wire round
//! trips of every field type.
use proptest::prelude::*;
use protocol_spec::config::{FieldBits, FieldSpec, FieldType};
use protocol_spec::messages::mainsel::FieldValue;
use protocol_spec::value::*;

fn spec(t: FieldType, bits: u32) -> FieldSpec {
    FieldSpec::with_default_comparator("f", 0.01, 0.01, t, bits)
}

/// A bit length and a set of bit positions below it.
fn bit_set() -> impl Strategy<Value = (u32, Vec<u32>)> {
    (1u32..=2048).prop_flat_map(|len| (Just(len), prop::collection::vec(0..len, 0..200)))
}

fn bits_from_positions(len: u32, positions: &[u32]) -> FieldBits {
    let mut bytes = vec![0u8; len.div_ceil(8) as usize];
    for &p in positions {
        bytes[(p / 8) as usize] |= 1 << (p % 8);
    }
    FieldBits::from_le_bytes(len, &bytes).unwrap()
}

proptest! {
    #[test]
    fn bitmask_round_trip((len, positions) in bit_set()) {
        let bits = bits_from_positions(len, &positions);
        let encoded = encode_bitmask(&bits);
        let decoded = decode_bitmask(len, &encoded).unwrap();
        prop_assert_eq!(&decoded, &bits);
        for &p in &positions {
            prop_assert!(decoded.bit(p));
        }
        let mut distinct = positions.clone();
        distinct.sort_unstable();
        distinct.dedup();
        prop_assert_eq!(decoded.count_ones() as usize, distinct.len());
        // Through the wire value too.
        let s = spec(FieldType::Bitmask, len);
        let wire = field_to_wire(&s, Some(&bits)).unwrap();
        prop_assert_eq!(field_from_wire(&s, &wire).unwrap(), Some(bits));
    }

    /// Any byte string (Java BitSet bytes, with or without trailing zeros)
    /// decodes to exactly its bits, or is rejected naming the first bit
    /// beyond the length.
    #[test]
    fn bitmask_decode_of_arbitrary_bytes(
        len in 1u32..=600,
        data in prop::collection::vec(any::<u8>(), 0..80),
        pad in any::<bool>(),
    ) {
        use base64::Engine as _;
        let encoded = if pad {
            base64::engine::general_purpose::STANDARD.encode(&data)
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(&data)
        };
        let highest = (0..data.len() as u64 * 8)
            .rev()
            .find(|&i| data[(i / 8) as usize] >> (i % 8) & 1 == 1);
        match decode_bitmask(len, &encoded) {
            Ok(bits) => {
                prop_assert!(highest.is_none_or(|h| h < u64::from(len)));
                for i in 0..len {
                    let byte = data.get((i / 8) as usize).copied().unwrap_or(0);
                    prop_assert_eq!(bits.bit(i), byte >> (i % 8) & 1 == 1);
                }
            }
            Err(ValueError::BitmaskTooLong { bitlength, highest_set_bit }) => {
                prop_assert_eq!(bitlength, len);
                prop_assert_eq!(Some(highest_set_bit), highest);
                prop_assert!(highest_set_bit >= u64::from(len));
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn integer_round_trip(bits in 1u32..=64, raw in any::<u64>()) {
        let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
        let v = raw & max;
        for t in [FieldType::Integer, FieldType::Number] {
            if t == FieldType::Number && bits == 64 {
                continue;
            }
            let s = spec(t, bits);
            let b = field_from_wire(&s, &FieldValue::Integer(v.into())).unwrap().unwrap();
            prop_assert_eq!(b.as_bytes(), &v.to_le_bytes()[..bits.div_ceil(8) as usize]);
            // The decimal-string form gives the same bits.
            let from_str = field_from_wire(&s, &FieldValue::String(v.to_string())).unwrap();
            prop_assert_eq!(from_str.as_ref(), Some(&b));
            prop_assert_eq!(field_to_wire(&s, Some(&b)).unwrap(), FieldValue::Integer(v.into()));
        }
    }

    #[test]
    fn binary64_round_trip(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let s = spec(FieldType::Number, 64);
        let b = field_from_wire(&s, &FieldValue::Number(x)).unwrap().unwrap();
        let back = field_to_wire(&s, Some(&b)).unwrap();
        let expected = if x == 0.0 { 0.0 } else { x };
        prop_assert_eq!(back, FieldValue::Number(expected));
    }

    #[test]
    fn string_round_trip(text in "[^\u{0}]{1,12}", extra_bytes in 0u32..8) {
        prop_assume!(!text.trim().is_empty());
        let len = (text.len() as u32) * 8 + extra_bytes * 8;
        let s = spec(FieldType::String, len);
        let b = field_from_wire(&s, &FieldValue::String(text.clone())).unwrap().unwrap();
        prop_assert_eq!(field_to_wire(&s, Some(&b)).unwrap(), FieldValue::String(text.clone()));
        // One byte less than needed is refused.
        let short = spec(FieldType::String, len - extra_bytes * 8 - 1);
        let refused = matches!(
            field_from_wire(&short, &FieldValue::String(text)),
            Err(ValueError::StringTooLong { .. })
        );
        prop_assert!(refused);
    }
}

/// 0 and 2^bits − 1 are accepted, 2^bits is refused, for every bit length
/// and for each way an integer may arrive.
#[test]
fn integer_bounds_for_every_bit_length() {
    for bits in 1u32..=64 {
        let max: u128 = (1u128 << bits) - 1;
        let s = spec(FieldType::Integer, bits);
        let forms = |v: u128| {
            vec![
                FieldValue::Integer(v as i128),
                FieldValue::String(v.to_string()),
            ]
        };
        for value in forms(0).into_iter().chain(forms(max)) {
            let b = field_from_wire(&s, &value)
                .unwrap_or_else(|e| panic!("{bits} bits, {value:?}: {e}"))
                .unwrap();
            assert_eq!(b.bitlength(), bits);
        }
        for value in forms(max + 1) {
            let e = field_from_wire(&s, &value).unwrap_err();
            assert_eq!(
                e,
                ValueError::IntegerOutOfRange {
                    bitlength: bits,
                    max: max as u64
                },
                "{bits} bits, {value:?}"
            );
        }
        // As JSON numbers: exact below 2^53, and 2^bits is always exact.
        if bits <= 53 {
            assert!(field_from_wire(&s, &FieldValue::Number(max as f64)).is_ok());
        }
        assert!(matches!(
            field_from_wire(&s, &FieldValue::Number((max + 1) as f64)),
            Err(ValueError::IntegerOutOfRange { .. })
        ));
    }
}
