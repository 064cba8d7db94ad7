//! The 128-bit [`Block`]: the unit of OT keys, PRG output and hash input.
//!
//! A block is a plain `u128` newtype so that XOR, AND and shifts compile to a
//! couple of machine instructions; byte conversion is little-endian
//! everywhere (wire format and AES input alike), so both parties agree on the
//! encoding regardless of platform.

use std::fmt;
use std::ops::{BitAnd, BitAndAssign, BitXor, BitXorAssign, Not};

/// A 128-bit value. `Debug` prints only a short fingerprint-free marker for
/// blocks so that keys do not end up in logs by accident.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Block(pub u128);

impl Block {
    /// The all-zero block.
    pub const ZERO: Block = Block(0);
    /// The all-one block.
    pub const ONES: Block = Block(u128::MAX);
    /// Size of the little-endian encoding in bytes.
    pub const BYTES: usize = 16;

    /// Little-endian encoding.
    #[inline]
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }

    /// Decodes a little-endian encoding.
    #[inline]
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Block(u128::from_le_bytes(bytes))
    }

    /// The least significant bit (bit 0).
    #[inline]
    pub fn lsb(self) -> bool {
        self.0 & 1 == 1
    }

    /// Bit `i` (0 = least significant). `i` must be below 128.
    #[inline]
    pub fn bit(self, i: usize) -> bool {
        (self.0 >> i) & 1 == 1
    }

    /// `self` if `bit` is set, else zero — branch-free, so selecting by a
    /// secret choice bit does not leak it through timing.
    #[inline]
    pub fn and_bit(self, bit: bool) -> Block {
        Block(self.0 & (bit as u128).wrapping_neg())
    }

    /// Draws a uniformly random block.
    pub fn random<R: rand::Rng + ?Sized>(rng: &mut R) -> Block {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        Block::from_bytes(b)
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Blocks are mostly keys and shares; print them only in tests.
        if cfg!(test) {
            write!(f, "Block({:032x})", self.0)
        } else {
            f.write_str("Block(..)")
        }
    }
}

/// Blocks hold keys, seeds and Δ: their owners wipe them on drop
/// (`Zeroize` for `Block` and `Vec<Block>` comes with this marker).
impl zeroize::DefaultIsZeroes for Block {}

impl From<u128> for Block {
    fn from(v: u128) -> Self {
        Block(v)
    }
}

impl From<Block> for u128 {
    fn from(b: Block) -> Self {
        b.0
    }
}

impl BitXor for Block {
    type Output = Block;
    #[inline]
    fn bitxor(self, rhs: Block) -> Block {
        Block(self.0 ^ rhs.0)
    }
}

impl BitXorAssign for Block {
    #[inline]
    fn bitxor_assign(&mut self, rhs: Block) {
        self.0 ^= rhs.0;
    }
}

impl BitAnd for Block {
    type Output = Block;
    #[inline]
    fn bitand(self, rhs: Block) -> Block {
        Block(self.0 & rhs.0)
    }
}

impl BitAndAssign for Block {
    #[inline]
    fn bitand_assign(&mut self, rhs: Block) {
        self.0 &= rhs.0;
    }
}

impl Not for Block {
    type Output = Block;
    #[inline]
    fn not(self) -> Block {
        Block(!self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_bit_access() {
        let b = Block(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        assert_eq!(Block::from_bytes(b.to_bytes()), b);
        assert_eq!(b.to_bytes()[0], 0x10);
        assert!(!b.lsb());
        assert!(b.bit(4));
        assert_eq!(b.and_bit(true), b);
        assert_eq!(b.and_bit(false), Block::ZERO);
        assert_eq!(b ^ b, Block::ZERO);
        assert_eq!(!Block::ZERO, Block::ONES);
    }
}
