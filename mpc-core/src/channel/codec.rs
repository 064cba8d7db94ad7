//! I/O-free encoding of typed vectors into message payloads.

use bytes::{Bytes, BytesMut};

use super::{ChannelError, MAX_FRAME};
use crate::block::Block;

/// Encodes blocks, 16 little-endian bytes each.
pub fn encode_blocks(blocks: &[Block]) -> Bytes {
    let mut out = vec![0u8; blocks.len() * 16];
    for (o, b) in out.chunks_exact_mut(16).zip(blocks) {
        o.copy_from_slice(&b.to_bytes());
    }
    Bytes::from(out)
}

/// Decodes exactly `n` blocks.
pub fn decode_blocks(msg: &[u8], n: usize) -> Result<Vec<Block>, ChannelError> {
    check_len("blocks", msg.len(), n.saturating_mul(16))?;
    Ok(msg
        .chunks_exact(16)
        .map(|c| {
            let mut a = [0u8; 16];
            a.copy_from_slice(c);
            Block::from_bytes(a)
        })
        .collect())
}

/// Encodes words, 8 little-endian bytes each.
pub fn encode_u64s(words: &[u64]) -> Bytes {
    let mut out = vec![0u8; words.len() * 8];
    for (o, w) in out.chunks_exact_mut(8).zip(words) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    Bytes::from(out)
}

/// Decodes exactly `n` words.
pub fn decode_u64s(msg: &[u8], n: usize) -> Result<Vec<u64>, ChannelError> {
    check_len("u64 words", msg.len(), n.saturating_mul(8))?;
    Ok(msg
        .chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            u64::from_le_bytes(a)
        })
        .collect())
}

/// Encodes the first `nbits` bits of `words` into `ceil(nbits/8)` bytes
/// (bit `i` is bit `i % 8` of byte `i / 8`, which is the little-endian byte
/// order of the packed words). Padding bits are cleared.
pub fn encode_bits(words: &[u64], nbits: usize) -> Result<Bytes, ChannelError> {
    let nbytes = nbits.div_ceil(8);
    if words.len() * 64 < nbits {
        return Err(ChannelError::Malformed(format!(
            "asked to send {nbits} bits from only {} words",
            words.len()
        )));
    }
    if nbytes > MAX_FRAME {
        return Err(ChannelError::FrameTooLarge {
            len: nbytes as u64,
            max: MAX_FRAME as u64,
        });
    }
    let mut out = BytesMut::with_capacity(nbytes);
    let full_words = nbytes / 8;
    for w in &words[..full_words] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    let rest = nbytes % 8;
    if rest > 0 {
        out.extend_from_slice(&words[full_words].to_le_bytes()[..rest]);
    }
    if !nbits.is_multiple_of(8) {
        let last = out.len() - 1;
        out[last] &= (1u8 << (nbits % 8)) - 1;
    }
    Ok(out.freeze())
}

/// Decodes exactly `nbits` bits into `ceil(nbits/64)` words; non-zero
/// padding bits make the message malformed.
pub fn decode_bits(msg: &[u8], nbits: usize) -> Result<Vec<u64>, ChannelError> {
    let nbytes = nbits.div_ceil(8);
    check_len("packed bits", msg.len(), nbytes)?;
    let mut words = vec![0u64; nbits.div_ceil(64)];
    for (w, chunk) in words.iter_mut().zip(msg.chunks(8)) {
        let mut a = [0u8; 8];
        a[..chunk.len()].copy_from_slice(chunk);
        *w = u64::from_le_bytes(a);
    }
    if !nbits.is_multiple_of(64) {
        let last = words.len() - 1;
        if words[last] & !low_mask(nbits % 64) != 0 {
            return Err(ChannelError::Malformed(format!(
                "bit vector of {nbits} bits has non-zero padding"
            )));
        }
    }
    Ok(words)
}

/// Mask of the `n` low bits, `n` in `0..=64`.
fn low_mask(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

fn check_len(what: &'static str, actual: usize, expected: usize) -> Result<(), ChannelError> {
    if actual == expected {
        Ok(())
    } else {
        Err(ChannelError::UnexpectedLength {
            what,
            expected,
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bits_round_trip(words in proptest::collection::vec(any::<u64>(), 0..20), cut in 0usize..64) {
            let nbits = (words.len() * 64).saturating_sub(cut);
            let enc = encode_bits(&words, nbits).unwrap();
            prop_assert_eq!(enc.len(), nbits.div_ceil(8));
            let dec = decode_bits(&enc, nbits).unwrap();
            prop_assert_eq!(dec.len(), nbits.div_ceil(64));
            for i in 0..nbits {
                prop_assert_eq!((dec[i / 64] >> (i % 64)) & 1, (words[i / 64] >> (i % 64)) & 1);
            }
            // Padding is cleared.
            if !nbits.is_multiple_of(64) {
                prop_assert_eq!(dec[dec.len() - 1] >> (nbits % 64), 0);
            }
        }

        #[test]
        fn blocks_and_words_round_trip(v in proptest::collection::vec(any::<u128>(), 0..20)) {
            let blocks: Vec<Block> = v.iter().map(|&x| Block(x)).collect();
            prop_assert_eq!(decode_blocks(&encode_blocks(&blocks), blocks.len()).unwrap(), blocks);
            let words: Vec<u64> = v.iter().map(|&x| x as u64).collect();
            prop_assert_eq!(decode_u64s(&encode_u64s(&words), words.len()).unwrap(), words);
        }
    }

    #[test]
    fn wrong_sizes_are_errors() {
        assert!(matches!(
            decode_blocks(&[0u8; 17], 1),
            Err(ChannelError::UnexpectedLength { .. })
        ));
        assert!(matches!(
            decode_u64s(&[0u8; 8], 2),
            Err(ChannelError::UnexpectedLength { .. })
        ));
        assert!(matches!(
            decode_bits(&[0xff], 3),
            Err(ChannelError::Malformed(_))
        ));
        assert!(decode_bits(&[0x07], 3).is_ok());
        assert!(encode_bits(&[1], 65).is_err());
    }
}
