//! Cost-counting backend: runs a gadget without evaluating it and reports what
//! the GMW engine would spend on it.
//!
//! Counts are per lane (an AND gate on a 1,000-lane wire counts 1,000), so the
//! figures are what a SIMD run over that many records costs. The depth is the
//! AND-depth over interactive ANDs only, which equals the number of online
//! communication rounds of [`crate::gmw`] (one message each way per layer),
//! not counting the final output exchange.

use serde::Serialize;

use super::{
    AndKind, Builder, CResult, Knowledge, Lanes, Party, check_gather, check_range, same_lanes,
};

/// A wire as the counter sees it: its shape, who knows it and its AND-depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostWire {
    lanes: usize,
    depth: u32,
    knowledge: Knowledge,
}

impl CostWire {
    /// Interactive AND-depth of the wire.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Who knows the wire in the clear.
    pub fn knowledge(&self) -> Knowledge {
        self.knowledge
    }
}

/// What a circuit costs in the GMW engine, per lane summed over lanes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// ANDs of two shared values: one Beaver triple each.
    pub triple_ands: u64,
    /// ANDs with one input known to a party: one random OT each.
    pub ot_ands: u64,
    /// ANDs evaluated locally (public input, or one owner): free.
    pub local_ands: u64,
    /// XOR/NOT gates: free.
    pub xors: u64,
    /// Interactive AND-depth = online rounds (before the output exchange).
    pub depth: u32,
}

impl Cost {
    /// ANDs that need communication.
    pub fn interactive_ands(&self) -> u64 {
        self.triple_ands + self.ot_ands
    }

    /// Random bit-OTs consumed: two per triple (one each direction), one per
    /// mixed-owner AND.
    pub fn random_ots(&self) -> u64 {
        2 * self.triple_ands + self.ot_ands
    }

    /// Online bits sent by both parties together: each party sends d and e
    /// (2 bits) per triple AND and one masked bit per OT AND.
    pub fn online_bits(&self) -> u64 {
        4 * self.triple_ands + 2 * self.ot_ands
    }

    /// Total bytes of both directions, given what one random OT costs the
    /// OT extension in bits (e.g. 128 for IKNP).
    pub fn total_bytes(&self, ot_bits_per_rot: u64) -> u64 {
        (self.online_bits() + self.random_ots() * ot_bits_per_rot).div_ceil(8)
    }
}

/// Builder that only counts.
#[derive(Debug, Default, Clone)]
pub struct CostCounter {
    cost: Cost,
}

impl CostCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// An input known to `owner` in the clear.
    pub fn input(&mut self, owner: Party, lanes: usize) -> CostWire {
        CostWire {
            lanes,
            depth: 0,
            knowledge: Knowledge::Private(owner),
        }
    }

    /// An input that arrives XOR-shared (e.g. the output of an earlier
    /// circuit); the usual choice when costing a gadget in isolation.
    pub fn shared_input(&mut self, lanes: usize) -> CostWire {
        CostWire {
            lanes,
            depth: 0,
            knowledge: Knowledge::Shared,
        }
    }

    /// The costs so far.
    pub fn cost(&self) -> Cost {
        self.cost
    }

    fn free(&mut self, lanes: usize, depth: u32, knowledge: Knowledge) -> CostWire {
        self.cost.depth = self.cost.depth.max(depth);
        CostWire {
            lanes,
            depth,
            knowledge,
        }
    }
}

impl Builder for CostCounter {
    type Wire = CostWire;

    fn lanes(&self, w: &CostWire) -> usize {
        w.lanes
    }

    fn constant(&mut self, bits: Lanes) -> CResult<CostWire> {
        Ok(CostWire {
            lanes: bits.len(),
            depth: 0,
            knowledge: Knowledge::Public,
        })
    }

    fn xor(&mut self, a: &CostWire, b: &CostWire) -> CResult<CostWire> {
        let lanes = same_lanes(a.lanes, b.lanes)?;
        self.cost.xors += lanes as u64;
        Ok(self.free(
            lanes,
            a.depth.max(b.depth),
            Knowledge::xor(a.knowledge, b.knowledge),
        ))
    }

    fn and(&mut self, a: &CostWire, b: &CostWire) -> CResult<CostWire> {
        let lanes = same_lanes(a.lanes, b.lanes)?;
        let (knowledge, kind) = Knowledge::and(a.knowledge, b.knowledge);
        let n = lanes as u64;
        let mut depth = a.depth.max(b.depth);
        match kind {
            AndKind::Local => self.cost.local_ands += n,
            AndKind::OneOt { .. } => {
                self.cost.ot_ands += n;
                depth += 1;
            }
            AndKind::Triple => {
                self.cost.triple_ands += n;
                depth += 1;
            }
        }
        Ok(self.free(lanes, depth, knowledge))
    }

    fn not(&mut self, a: &CostWire) -> CResult<CostWire> {
        self.cost.xors += a.lanes as u64;
        Ok(*a)
    }

    fn slice_lanes(&mut self, a: &CostWire, start: usize, len: usize) -> CResult<CostWire> {
        check_range(start, len, a.lanes)?;
        Ok(CostWire { lanes: len, ..*a })
    }

    fn concat_lanes(&mut self, parts: &[CostWire]) -> CResult<CostWire> {
        let lanes = parts.iter().map(|p| p.lanes).sum();
        let depth = parts.iter().map(|p| p.depth).max().unwrap_or(0);
        let knowledge = parts
            .iter()
            .fold(Knowledge::Public, |k, p| Knowledge::xor(k, p.knowledge));
        Ok(CostWire {
            lanes,
            depth,
            knowledge,
        })
    }

    fn gather_lanes(&mut self, a: &CostWire, indices: &[u32]) -> CResult<CostWire> {
        check_gather(indices, a.lanes)?;
        Ok(CostWire {
            lanes: indices.len(),
            ..*a
        })
    }
}
