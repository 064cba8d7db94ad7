//! The wire form of a filter: base64 of Java's `BitSet.toByteArray()`.
use crate::config::FieldBits;

/// Java's `BitSet.toByteArray()`: bit i in byte i/8 under mask `1 << (i % 8)`,
/// trailing zero bytes removed (so an all-zero filter is the empty array).
pub fn java_bitset_bytes(bits: &FieldBits) -> &[u8] {
    let bytes = bits.as_bytes();
    let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &bytes[..used]
}

/// Standard, padded base64 of [`java_bitset_bytes`], which is what
/// Mainzelliste sends (`java.util.Base64.getEncoder()`). The one writer of
/// bitmask values is [`crate::value::encode_bitmask`]; an all-zero filter is
/// written as one zero byte (`"AA=="`) there, because `""` reads back as an
/// empty field.
pub fn to_base64(bits: &FieldBits) -> String {
    crate::value::encode_bitmask(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_trailing_zero_bytes_only() {
        let bits = FieldBits::from_le_bytes(500, &[0, 0x81, 0, 0x02]).unwrap();
        assert_eq!(java_bitset_bytes(&bits), &[0, 0x81, 0, 0x02]);
        assert_eq!(to_base64(&bits), "AIEAAg==");
        let empty = FieldBits::from_le_bytes(500, &[]).unwrap();
        assert_eq!(to_base64(&empty), "AA==");
    }
}
