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

/// Packs elements into `width` bits each, little-endian bit order.
pub fn pack<R: Ring>(values: &[R], width: u32) -> Vec<u8> {
    let width = width.min(R::BITS) as usize;
    let mut out = vec![0u8; (values.len() * width).div_ceil(8)];
    let mut pos = 0usize;
    for v in values {
        let mut x = v.reduce(width as u32).to_u128();
        let mut left = width;
        while left > 0 {
            let byte = pos / 8;
            let off = pos % 8;
            let take = (8 - off).min(left);
            out[byte] |= ((x & ((1 << take) - 1)) as u8) << off;
            x >>= take;
            pos += take;
            left -= take;
        }
    }
    out
}

/// Inverse of [`pack`]: `n` elements of `width` bits. `bytes` must hold
/// exactly `ceil(n · width / 8)` bytes (checked by the caller).
pub fn unpack<R: Ring>(bytes: &[u8], n: usize, width: u32) -> Vec<R> {
    let width = width.min(R::BITS) as usize;
    let mut out = Vec::with_capacity(n);
    let mut pos = 0usize;
    for _ in 0..n {
        let mut x = 0u128;
        let mut got = 0usize;
        while got < width {
            let byte = bytes.get(pos / 8).copied().unwrap_or(0);
            let off = pos % 8;
            let take = (8 - off).min(width - got);
            x |= u128::from((byte >> off) & ((1u16 << take) - 1) as u8) << got;
            got += take;
            pos += take;
        }
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
