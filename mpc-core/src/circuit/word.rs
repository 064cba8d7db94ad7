//! Integers as bundles of wires.
//!
//! A [`Word`] is an unsigned integer of `width` bits, little-endian (bit 0 is
//! the least significant), every bit a SIMD wire. The helpers at the bottom
//! convert between per-lane integers and the per-bit [`Lanes`] a party feeds
//! into or reads out of a circuit.

use super::{Builder, CResult, CircuitError, Lanes};

/// An unsigned integer as little-endian bit wires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word<W> {
    bits: Vec<W>,
}

impl<W: Clone> Word<W> {
    /// A word from its bits, least significant first.
    pub fn from_bits(bits: Vec<W>) -> Self {
        Word { bits }
    }

    /// The bits, least significant first.
    pub fn bits(&self) -> &[W] {
        &self.bits
    }

    /// Consumes the word into its bits.
    pub fn into_bits(self) -> Vec<W> {
        self.bits
    }

    /// Number of bits.
    pub fn width(&self) -> usize {
        self.bits.len()
    }

    /// Bit `i` (least significant is 0).
    pub fn bit(&self, i: usize) -> Option<&W> {
        self.bits.get(i)
    }

    /// The most significant bit.
    pub fn msb(&self) -> Option<&W> {
        self.bits.last()
    }

    /// The low `n` bits (the value mod 2^n); the whole word if narrower.
    pub fn low(&self, n: usize) -> Word<W> {
        Word {
            bits: self.bits[..n.min(self.bits.len())].to_vec(),
        }
    }

    /// Bits `from ..` (the value shifted right by `from`).
    pub fn high_from(&self, from: usize) -> Word<W> {
        Word {
            bits: self.bits[from.min(self.bits.len())..].to_vec(),
        }
    }

    /// Lanes of the word (of its first bit); `None` for an empty word.
    pub fn lanes<B: Builder<Wire = W>>(&self, b: &B) -> Option<usize> {
        self.bits.first().map(|w| b.lanes(w))
    }
}

/// Bits needed to represent values `0 ..= max` (at least 1).
pub const fn bits_for(max: u128) -> usize {
    if max == 0 {
        1
    } else {
        (128 - max.leading_zeros()) as usize
    }
}

/// Checks that every value fits in `width` bits.
pub fn check_fits(values: &[u128], width: usize) -> CResult<()> {
    if width >= 128 {
        return Ok(());
    }
    match values.iter().find(|&&v| v >> width != 0) {
        Some(&value) => Err(CircuitError::ConstantTooWide { value, bits: width }),
        None => Ok(()),
    }
}

/// Transposes per-lane integers into per-bit lanes: element `i` of the result
/// holds bit `i` of every value. Values must fit in `width` bits.
pub fn values_to_lanes(values: &[u128], width: usize) -> CResult<Vec<Lanes>> {
    check_fits(values, width)?;
    let mut out: Vec<Lanes> = (0..width).map(|_| Lanes::zeros(values.len())).collect();
    for (lane, &v) in values.iter().enumerate() {
        let mut rest = v;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            out[i].set(lane, true);
            rest &= rest - 1;
        }
    }
    Ok(out)
}

/// Inverse of [`values_to_lanes`]: per-bit lanes (at most 128, all of the
/// same lane count) to per-lane integers.
pub fn lanes_to_values(bits: &[Lanes]) -> CResult<Vec<u128>> {
    if bits.len() > 128 {
        return Err(CircuitError::Parameter {
            op: "lanes_to_values",
            detail: format!("{} bits do not fit in u128", bits.len()),
        });
    }
    let lanes = bits.first().map_or(0, Lanes::len);
    let mut out = vec![0u128; lanes];
    for (i, b) in bits.iter().enumerate() {
        super::same_lanes(lanes, b.len())?;
        for (wi, &w) in b.words().iter().enumerate() {
            let mut rest = w;
            while rest != 0 {
                let j = rest.trailing_zeros() as usize;
                out[wi * 64 + j] |= 1 << i;
                rest &= rest - 1;
            }
        }
    }
    Ok(out)
}

/// A public constant word: `values[i]` on lane `i`.
pub fn constant_word<B: Builder>(
    b: &mut B,
    values: &[u128],
    width: usize,
) -> CResult<Word<B::Wire>> {
    let bits = values_to_lanes(values, width)?;
    Ok(Word::from_bits(
        bits.into_iter()
            .map(|l| b.constant(l))
            .collect::<CResult<_>>()?,
    ))
}

/// The same public constant `value` on every one of `lanes` lanes.
pub fn constant_splat<B: Builder>(
    b: &mut B,
    value: u128,
    width: usize,
    lanes: usize,
) -> CResult<Word<B::Wire>> {
    check_fits(&[value], width)?;
    let bits = (0..width)
        .map(|i| b.splat(i < 128 && value >> i & 1 == 1, lanes))
        .collect::<CResult<_>>()?;
    Ok(Word::from_bits(bits))
}

/// `w` widened to `width` bits with constant zeros (or truncated to it).
pub fn zero_extend<B: Builder>(
    b: &mut B,
    w: &Word<B::Wire>,
    width: usize,
) -> CResult<Word<B::Wire>> {
    let lanes = w.lanes(b).ok_or(CircuitError::Empty {
        op: "zero_extend",
        what: "bit",
    })?;
    let mut bits = w.bits()[..w.width().min(width)].to_vec();
    while bits.len() < width {
        bits.push(b.splat(false, lanes)?);
    }
    Ok(Word::from_bits(bits))
}

/// `w << n` within `width` bits (free: constant zeros shifted in).
pub fn shift_left<B: Builder>(
    b: &mut B,
    w: &Word<B::Wire>,
    n: usize,
    width: usize,
) -> CResult<Word<B::Wire>> {
    let lanes = w.lanes(b).ok_or(CircuitError::Empty {
        op: "shift_left",
        what: "bit",
    })?;
    let mut bits = Vec::with_capacity(width);
    for i in 0..width {
        if i < n || i - n >= w.width() {
            bits.push(b.splat(false, lanes)?);
        } else {
            bits.push(w.bits()[i - n].clone());
        }
    }
    Ok(Word::from_bits(bits))
}

/// Applies a lane operation to every bit of a word.
pub fn map_bits<B: Builder>(
    b: &mut B,
    w: &Word<B::Wire>,
    mut f: impl FnMut(&mut B, &B::Wire) -> CResult<B::Wire>,
) -> CResult<Word<B::Wire>> {
    Ok(Word::from_bits(
        w.bits().iter().map(|x| f(b, x)).collect::<CResult<_>>()?,
    ))
}

/// Lanes `start .. start + len` of every bit.
pub fn slice_word<B: Builder>(
    b: &mut B,
    w: &Word<B::Wire>,
    start: usize,
    len: usize,
) -> CResult<Word<B::Wire>> {
    map_bits(b, w, |b, x| b.slice_lanes(x, start, len))
}

/// Gathers lanes of every bit (see [`Builder::gather_lanes`]).
pub fn gather_word<B: Builder>(
    b: &mut B,
    w: &Word<B::Wire>,
    indices: &[u32],
) -> CResult<Word<B::Wire>> {
    map_bits(b, w, |b, x| b.gather_lanes(x, indices))
}

/// Broadcasts a single-lane word to `lanes` lanes.
pub fn broadcast_word<B: Builder>(
    b: &mut B,
    w: &Word<B::Wire>,
    lanes: usize,
) -> CResult<Word<B::Wire>> {
    map_bits(b, w, |b, x| b.broadcast(x, lanes))
}

/// Concatenates the lanes of words of equal width.
pub fn concat_words<B: Builder>(b: &mut B, parts: &[Word<B::Wire>]) -> CResult<Word<B::Wire>> {
    let width = parts.first().map_or(0, Word::width);
    let mut bits = Vec::with_capacity(width);
    for i in 0..width {
        let mut col = Vec::with_capacity(parts.len());
        for p in parts {
            let bit = p.bit(i).ok_or(CircuitError::WidthMismatch {
                op: "concat_words",
                left: width,
                right: p.width(),
            })?;
            col.push(bit.clone());
        }
        bits.push(b.concat_lanes(&col)?);
    }
    Ok(Word::from_bits(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lanes_roundtrip() {
        let vals = [0u128, 1, 5, 255, 128, 77];
        let l = values_to_lanes(&vals, 8).expect("fits");
        assert_eq!(l.len(), 8);
        assert_eq!(lanes_to_values(&l).expect("consistent"), vals.to_vec());
        assert_eq!(
            values_to_lanes(&[256], 8),
            Err(CircuitError::ConstantTooWide {
                value: 256,
                bits: 8
            })
        );
        let wide = values_to_lanes(&[u128::MAX], 128).expect("fits");
        assert_eq!(lanes_to_values(&wide).expect("consistent"), vec![u128::MAX]);
    }

    #[test]
    fn bits_for_bounds() {
        assert_eq!(bits_for(0), 1);
        assert_eq!(bits_for(1), 1);
        assert_eq!(bits_for(2), 2);
        assert_eq!(bits_for(500), 9);
        assert_eq!(bits_for(u128::MAX), 128);
    }
}
