//! The rings Z_2^k for k = 32, 64, 128, and `width`-bit sub-rings of them.
//!
//! Arithmetic shares are elements of `Z_2^k` with wrapping arithmetic; a
//! share `x` splits as `x = x_client + x_server mod 2^k`. Protocols that
//! only need `width < k` bits (e.g. a count below 2^9) reduce with
//! [`Ring::reduce`] and send just `width` bits per element ([`pack`]).

use std::fmt::Debug;

use crate::block::Block;

/// An integer ring `Z_2^BITS` with wrapping arithmetic.
pub trait Ring: Copy + Eq + Default + Debug + Send + Sync + 'static {
    /// k, the bit width.
    const BITS: u32;
    /// Bytes of the little-endian encoding.
    const BYTES: usize;
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;

    /// `self + rhs mod 2^k`.
    fn add(self, rhs: Self) -> Self;
    /// `self - rhs mod 2^k`.
    fn sub(self, rhs: Self) -> Self;
    /// `self * rhs mod 2^k`.
    fn mul(self, rhs: Self) -> Self;
    /// `-self mod 2^k`.
    fn neg(self) -> Self;
    /// `self mod 2^width` (identity for `width >= k`).
    fn reduce(self, width: u32) -> Self;
    /// The low k bits of `v`.
    fn from_u128(v: u128) -> Self;
    /// The value as `u128`.
    fn to_u128(self) -> u128;
    /// The low k bits of a block (uniform if the block is).
    fn from_block(b: Block) -> Self {
        Self::from_u128(b.0)
    }
    /// Reads a little-endian encoding of `BYTES` bytes.
    fn from_le_slice(bytes: &[u8]) -> Self;
    /// `bit ? self : 0`, branch-free.
    fn select(self, bit: bool) -> Self;
}

macro_rules! impl_ring {
    ($t:ty) => {
        impl Ring for $t {
            const BITS: u32 = <$t>::BITS;
            const BYTES: usize = std::mem::size_of::<$t>();
            const ZERO: Self = 0;
            const ONE: Self = 1;

            #[inline]
            fn add(self, rhs: Self) -> Self {
                self.wrapping_add(rhs)
            }
            #[inline]
            fn sub(self, rhs: Self) -> Self {
                self.wrapping_sub(rhs)
            }
            #[inline]
            fn mul(self, rhs: Self) -> Self {
                self.wrapping_mul(rhs)
            }
            #[inline]
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            #[inline]
            fn reduce(self, width: u32) -> Self {
                if width >= <$t>::BITS {
                    self
                } else {
                    self & ((1 << width) - 1)
                }
            }
            #[inline]
            fn from_u128(v: u128) -> Self {
                v as $t
            }
            #[inline]
            fn to_u128(self) -> u128 {
                self as u128
            }
            #[inline]
            fn from_le_slice(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                let n = a.len().min(bytes.len());
                a[..n].copy_from_slice(&bytes[..n]);
                <$t>::from_le_bytes(a)
            }
            #[inline]
            fn select(self, bit: bool) -> Self {
                self & (bit as $t).wrapping_neg()
            }
        }
    };
}

impl_ring!(u32);
impl_ring!(u64);
impl_ring!(u128);

/// Packs elements into `width` bits each, little-endian bit order (the
/// bits of all elements back to back, no padding between them). Works 64
/// bits at a time: this is the hot loop of the vector product.
pub fn pack<R: Ring>(values: &[R], width: u32) -> Vec<u8> {
    let width = width.min(R::BITS) as usize;
    let mut out = Vec::with_capacity((values.len() * width).div_ceil(8) + 8);
    // At most 63 pending bits plus a piece of at most 64 fit in a u128.
    let (mut acc, mut have) = (0u128, 0usize);
    let mut push = |piece: u64, bits: usize, out: &mut Vec<u8>| {
        acc |= u128::from(piece) << have;
        have += bits;
        if have >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            have -= 64;
        }
    };
    for v in values {
        let x = v.reduce(width as u32).to_u128();
        if width <= 64 {
            push(x as u64, width, &mut out);
        } else {
            push(x as u64, 64, &mut out);
            push((x >> 64) as u64, width - 64, &mut out);
        }
    }
    out.extend_from_slice(&(acc as u64).to_le_bytes()[..have.div_ceil(8)]);
    out
}

/// Inverse of [`pack`]: `n` elements of `width` bits. `bytes` must hold
/// exactly `ceil(n · width / 8)` bytes (checked by the caller; missing
/// bytes read as zero).
pub fn unpack<R: Ring>(bytes: &[u8], n: usize, width: u32) -> Vec<R> {
    let width = width.min(R::BITS) as usize;
    if width == 0 {
        return vec![R::ZERO; n];
    }
    let mut out = Vec::with_capacity(n);
    let mut words = bytes.chunks(8).map(|c| {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(b)
    });
    let (mut acc, mut have) = (0u128, 0usize);
    let mut take = |bits: usize| -> u64 {
        if have < bits {
            acc |= u128::from(words.next().unwrap_or(0)) << have;
            have += 64;
        }
        let v = acc as u64 & (u64::MAX >> (64 - bits));
        acc >>= bits;
        have -= bits;
        v
    };
    for _ in 0..n {
        let x = if width <= 64 {
            u128::from(take(width))
        } else {
            let lo = take(64);
            u128::from(lo) | u128::from(take(width - 64)) << 64
        };
        out.push(R::from_u128(x));
    }
    out
}

/// Bytes [`pack`] produces for `n` elements of `width` bits.
pub fn packed_len<R: Ring>(n: usize, width: u32) -> usize {
    (n * width.min(R::BITS) as usize).div_ceil(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip_odd_widths() {
        let vals: Vec<u32> = (0..37)
            .map(|i: u32| i.wrapping_mul(2_654_435_761))
            .collect();
        for w in [1u32, 7, 9, 13, 31, 32] {
            let p = pack(&vals, w);
            assert_eq!(p.len(), packed_len::<u32>(vals.len(), w));
            let back: Vec<u32> = unpack(&p, vals.len(), w);
            let want: Vec<u32> = vals.iter().map(|v| v.reduce(w)).collect();
            assert_eq!(back, want, "width {w}");
        }
        let big = [u128::MAX, 1, 1 << 127];
        assert_eq!(unpack::<u128>(&pack(&big, 128), 3, 128), big.to_vec());
        // Wider than 64 bits but not a whole ring: split pieces.
        let wide: Vec<u128> = (0..9u128)
            .map(|i| (i + 3) * 0x9e37_79b9_7f4a_7c15_f39c)
            .collect();
        for w in [65u32, 100, 127] {
            let p = pack(&wide, w);
            assert_eq!(p.len(), packed_len::<u128>(wide.len(), w));
            let want: Vec<u128> = wide.iter().map(|v| v.reduce(w)).collect();
            assert_eq!(unpack::<u128>(&p, wide.len(), w), want, "width {w}");
        }
    }

    #[test]
    fn pack_is_bit_serial_little_endian() {
        // 3-bit values 0b101, 0b011, 0b111 → bits 101 110 111 (LSB first).
        assert_eq!(pack(&[5u32, 3, 7], 3), vec![0b1101_1101, 0b1]);
        assert_eq!(unpack::<u32>(&[0b1101_1101, 0b1], 3, 3), vec![5, 3, 7]);
    }

    #[test]
    fn ring_ops_wrap() {
        assert_eq!(Ring::add(u32::MAX, 1), 0);
        assert_eq!(Ring::sub(0u64, 1), u64::MAX);
        assert_eq!(Ring::neg(1u128), u128::MAX);
        assert_eq!(Ring::reduce(0x1ffu32, 8), 0xff);
        assert_eq!(5u32.select(false), 0);
        assert_eq!(5u32.select(true), 5);
    }
}
