//! Boolean circuits written once and run on several backends.
//!
//! Gadgets (adders, comparators, division, argmax, …) are generic over the
//! [`Builder`] trait, in the style of swanky's `Fancy`: the same code
//!
//! * evaluates immediately on bit-packed lanes ([`plain::PlainBuilder`]),
//! * counts AND gates, OTs, AND-depth and bytes ([`cost::CostCounter`]),
//! * records a netlist with ownership tags ([`netlist::NetlistBuilder`]) that
//!   the GMW engine ([`crate::gmw`]) evaluates layer by layer between the two
//!   parties.
//!
//! Every wire is a SIMD vector of lanes (one lane per database record), so a
//! single netlist gate stands for one Boolean gate per record. Besides the
//! Boolean gates the trait has free "lane" operations (slice, concat, gather)
//! that move values between records, which the cross-record argmax needs.

pub mod cost;
pub mod gadgets;
pub mod netlist;
pub mod plain;
pub mod word;

pub use crate::lanes::Lanes;
pub use crate::party::Party;
pub use word::Word;

use serde::{Deserialize, Serialize};

/// Who knows the value of a wire in the clear.
///
/// Tracked at circuit-construction time: a gate whose inputs are all known to
/// one party is computed locally by that party, and an AND with one input
/// known to a party needs one OT instead of a Beaver triple.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Knowledge {
    /// A constant of the circuit, known to both.
    Public,
    /// Computed from one party's inputs and constants only.
    Private(Party),
    /// XOR-shared: neither party knows it.
    Shared,
}

/// How an AND gate is evaluated, decided by the knowledge of its inputs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum AndKind {
    /// No interaction: a public input, or both inputs private to one party.
    Local,
    /// One input is known in the clear to `receiver` (the ROT receiver), the
    /// other is held (in the clear or as a share) by the other party: one
    /// random OT and one bit sent by each party online.
    OneOt {
        /// The party that knows one input in the clear.
        receiver: Party,
    },
    /// Both inputs shared: one Beaver triple (two random OTs) and two bits
    /// sent by each party online.
    Triple,
}

impl Knowledge {
    /// Knowledge of `a ^ b`.
    pub const fn xor(a: Knowledge, b: Knowledge) -> Knowledge {
        use Knowledge::*;
        match (a, b) {
            (Public, k) | (k, Public) => k,
            (Private(p), Private(q)) if p as u8 == q as u8 => Private(p),
            _ => Shared,
        }
    }

    /// Knowledge of `a & b` and how the AND is evaluated.
    pub const fn and(a: Knowledge, b: Knowledge) -> (Knowledge, AndKind) {
        use Knowledge::*;
        match (a, b) {
            (Public, k) | (k, Public) => (k, AndKind::Local),
            (Private(p), Private(q)) if p as u8 == q as u8 => (Private(p), AndKind::Local),
            // Different owners: the client is the receiver by convention.
            (Private(_), Private(_)) => (
                Shared,
                AndKind::OneOt {
                    receiver: Party::Client,
                },
            ),
            (Private(p), Shared) | (Shared, Private(p)) => (Shared, AndKind::OneOt { receiver: p }),
            (Shared, Shared) => (Shared, AndKind::Triple),
        }
    }
}

/// A mistake in how a circuit was put together (wrong widths, lane counts or
/// parameters). Returned, never panicked on, because widths can come from
/// configuration and data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CircuitError {
    /// A gate got inputs with different numbers of lanes.
    #[error("lane count mismatch: {left} lanes vs {right} lanes")]
    LaneMismatch {
        /// Lanes of the first input.
        left: usize,
        /// Lanes of the second input.
        right: usize,
    },
    /// A lane slice or gather index outside the wire.
    #[error("lane range {start}..{end} is outside a wire of {lanes} lanes")]
    LaneRange {
        /// First lane asked for.
        start: usize,
        /// One past the last lane asked for.
        end: usize,
        /// Lanes of the wire.
        lanes: usize,
    },
    /// Broadcasting needs a single-lane wire.
    #[error("broadcast needs a single-lane wire, got {lanes} lanes")]
    BroadcastWidth {
        /// Lanes of the wire.
        lanes: usize,
    },
    /// Two words that must have equal bit widths do not.
    #[error("{op}: word widths differ ({left} vs {right} bits)")]
    WidthMismatch {
        /// The gadget.
        op: &'static str,
        /// Width of the first word.
        left: usize,
        /// Width of the second word.
        right: usize,
    },
    /// A gadget got a word or list that must not be empty.
    #[error("{op}: needs at least one {what}")]
    Empty {
        /// The gadget.
        op: &'static str,
        /// What was missing ("bit", "candidate", …).
        what: &'static str,
    },
    /// A constant does not fit the requested width.
    #[error("constant {value} does not fit in {bits} bits")]
    ConstantTooWide {
        /// The value.
        value: u128,
        /// The width.
        bits: usize,
    },
    /// A gadget parameter is out of its range.
    #[error("{op}: {detail}")]
    Parameter {
        /// The gadget.
        op: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A wire handle that this builder did not create.
    #[error("wire {0} does not belong to this circuit")]
    UnknownWire(u32),
    /// The circuit grew beyond what a netlist can index.
    #[error("circuit too large: more than {0} wires")]
    TooLarge(u32),
}

/// Result of a builder operation.
pub type CResult<T> = Result<T, CircuitError>;

/// The circuit-construction interface every backend implements.
///
/// All operations are on SIMD wires: a gate combines lane `i` of its inputs
/// into lane `i` of its output, so inputs must have equal lane counts.
pub trait Builder {
    /// A handle to (or value of) one wire.
    type Wire: Clone + std::fmt::Debug;

    /// Number of lanes of `w`.
    fn lanes(&self, w: &Self::Wire) -> usize;

    /// A public constant with one bit per lane.
    fn constant(&mut self, bits: Lanes) -> CResult<Self::Wire>;

    /// `a ^ b` (free in GMW).
    fn xor(&mut self, a: &Self::Wire, b: &Self::Wire) -> CResult<Self::Wire>;

    /// `a & b` (the only gate that may need interaction).
    fn and(&mut self, a: &Self::Wire, b: &Self::Wire) -> CResult<Self::Wire>;

    /// `!a` (free).
    fn not(&mut self, a: &Self::Wire) -> CResult<Self::Wire>;

    /// Lanes `start .. start + len` of `a` (free).
    fn slice_lanes(&mut self, a: &Self::Wire, start: usize, len: usize) -> CResult<Self::Wire>;

    /// The lanes of `parts` one after the other (free).
    fn concat_lanes(&mut self, parts: &[Self::Wire]) -> CResult<Self::Wire>;

    /// Lane `i` of the result is lane `indices[i]` of `a` (free; indices may
    /// repeat, so this also broadcasts).
    fn gather_lanes(&mut self, a: &Self::Wire, indices: &[u32]) -> CResult<Self::Wire>;

    /// Repeats a single-lane wire over `lanes` lanes (free), e.g. to compare
    /// one query record against every database record.
    fn broadcast(&mut self, a: &Self::Wire, lanes: usize) -> CResult<Self::Wire> {
        let have = self.lanes(a);
        if have != 1 {
            return Err(CircuitError::BroadcastWidth { lanes: have });
        }
        self.gather_lanes(a, &vec![0; lanes])
    }

    /// The constant `bit` on every lane.
    fn splat(&mut self, bit: bool, lanes: usize) -> CResult<Self::Wire> {
        self.constant(Lanes::splat(bit, lanes))
    }

    /// `a | b` = `a ^ b ^ (a & b)` (one AND).
    fn or(&mut self, a: &Self::Wire, b: &Self::Wire) -> CResult<Self::Wire> {
        let x = self.xor(a, b)?;
        let y = self.and(a, b)?;
        self.xor(&x, &y)
    }

    /// `if s { t } else { f }` = `f ^ (s & (t ^ f))` (one AND).
    fn mux(&mut self, s: &Self::Wire, t: &Self::Wire, f: &Self::Wire) -> CResult<Self::Wire> {
        let d = self.xor(t, f)?;
        let m = self.and(s, &d)?;
        self.xor(f, &m)
    }
}

/// Checks that two lane counts agree.
pub(crate) fn same_lanes(left: usize, right: usize) -> CResult<usize> {
    if left == right {
        Ok(left)
    } else {
        Err(CircuitError::LaneMismatch { left, right })
    }
}

/// Checks a lane range against a wire of `lanes` lanes.
pub(crate) fn check_range(start: usize, len: usize, lanes: usize) -> CResult<()> {
    match start.checked_add(len) {
        Some(end) if end <= lanes => Ok(()),
        _ => Err(CircuitError::LaneRange {
            start,
            end: start.saturating_add(len),
            lanes,
        }),
    }
}

/// Checks gather indices against a wire of `lanes` lanes.
pub(crate) fn check_gather(indices: &[u32], lanes: usize) -> CResult<()> {
    match indices.iter().copied().max() {
        Some(m) if m as usize >= lanes => Err(CircuitError::LaneRange {
            start: m as usize,
            end: m as usize + 1,
            lanes,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knowledge_rules() {
        use Knowledge::*;
        let c = Private(Party::Client);
        let s = Private(Party::Server);
        assert_eq!(Knowledge::xor(Public, c), c);
        assert_eq!(Knowledge::xor(c, c), c);
        assert_eq!(Knowledge::xor(c, s), Shared);
        assert_eq!(Knowledge::and(Public, Shared), (Shared, AndKind::Local));
        assert_eq!(Knowledge::and(s, s), (s, AndKind::Local));
        assert_eq!(
            Knowledge::and(c, s),
            (
                Shared,
                AndKind::OneOt {
                    receiver: Party::Client
                }
            )
        );
        assert_eq!(
            Knowledge::and(Shared, s),
            (
                Shared,
                AndKind::OneOt {
                    receiver: Party::Server
                }
            )
        );
        assert_eq!(Knowledge::and(Shared, Shared), (Shared, AndKind::Triple));
    }
}
