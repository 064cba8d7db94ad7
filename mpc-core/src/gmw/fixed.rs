//! Fixed-choice ANDs: one random OT per *distinct* value of the clear
//! operand instead of one per lane.
//!
//! A mixed AND `x & y` (x known in the clear to one party, the chooser)
//! normally costs one bit-ROT per lane. In EpiLink most such `x` are
//! fixed for many lanes: the query's presence bits, weights and values are
//! broadcast over all records of a chunk (a [`Gate::Gather`] of a one-lane
//! per query input). Lanes with the same `x` can share one random OT with
//! `x` as the choice, if every lane gets a *fresh* pad: the OT keys seed an
//! AES-CTR stream ([`AesPrg`]) and lane number `i` of a class takes bit
//! `i` of each stream, exactly like the vector product's pads.
//!
//! Which lanes carry equal values is a property of the netlist alone, never
//! of the data: [`FixedPlan::new`] follows gathers, slices, concatenations
//! and the local gates of one party's wires and gives every private wire a
//! partition of its lanes into *classes* whose lanes are equal by
//! construction. Both parties compute the same plan from the same netlist.
//!
//! # Protocol of one fixed AND (semi-honest)
//! Per class `j` one random OT: the chooser R gets `(c_j, k_{c_j})`, the
//! other party S gets `(k_0, k_1)`. For lane `l` of class `j` with rank `i`
//! inside the class, `m_b[l] = AES-CTR(k_b)` bit `i`, `Δ[l] = m_0 ^ m_1`,
//! so `m_c[l] = m_0[l] ^ c_j·Δ[l]`: a per-lane bit-ROT whose choice is
//! constant on the class. Then the mixed-AND protocol of [`super`]: R sends
//! `d_j = x_j ^ c_j` once per class, S sends `e[l] = y_S[l] ^ Δ[l]` per
//! lane; `z_R = x & (y_R ^ e) ^ m_c`, `z_S = d & Δ ^ m_0`.
//!
//! What each message reveals: `d_j` is `x_j` masked by the OT's random
//! choice `c_j`, used for this one class of this one gate only, so S sees a
//! uniform bit. `e[l]` is `y_S[l]` masked by bit `i` of the stream of the
//! key R does not hold, `k_{1−c_j}`; each key seeds exactly one stream and
//! each stream bit masks exactly one lane, so to R the `e` of all lanes are
//! independent pseudorandom bits (AES as a PRF). No key and no stream bit
//! is ever used for two messages, which is the whole difference from
//! reusing a plain bit-ROT. Cost per class: one random OT and one bit from
//! R; per lane: one bit from S (instead of one random OT and one bit from
//! each party).

use std::sync::Arc;

use crate::Lanes;
use crate::Party;
use crate::block::Block;
use crate::circuit::netlist::{Gate, Netlist, Requirements};
use crate::circuit::{AndKind, Knowledge};
use crate::prg::AesPrg;

/// A partition of a wire's lanes into classes of equal value.
#[derive(Clone, PartialEq, Eq)]
pub struct ClassMap {
    /// Class of every lane (classes numbered by first appearance).
    of_lane: Vec<u32>,
    /// Position of every lane inside its class.
    rank: Vec<u32>,
    /// First lane of every class.
    first: Vec<u32>,
    /// Lanes per class.
    sizes: Vec<u32>,
}

impl ClassMap {
    /// Renumbers an arbitrary labelling (labels `< labels`) by first
    /// appearance.
    fn from_labels(labels: impl Iterator<Item = u32>, label_count: usize) -> ClassMap {
        let mut id = vec![u32::MAX; label_count];
        let (mut of_lane, mut rank) = (Vec::new(), Vec::new());
        let (mut first, mut sizes) = (Vec::new(), Vec::<u32>::new());
        for (l, lab) in labels.enumerate() {
            let slot = &mut id[lab as usize];
            if *slot == u32::MAX {
                *slot = sizes.len() as u32;
                first.push(l as u32);
                sizes.push(0);
            }
            let c = *slot as usize;
            of_lane.push(c as u32);
            rank.push(sizes[c]);
            sizes[c] += 1;
        }
        ClassMap {
            of_lane,
            rank,
            first,
            sizes,
        }
    }

    /// Number of classes.
    pub fn count(&self) -> usize {
        self.sizes.len()
    }

    /// Number of lanes.
    pub fn lanes(&self) -> usize {
        self.of_lane.len()
    }

    /// One bit per class, read at each class's first lane of `v`.
    fn representatives(&self, v: &Lanes) -> Lanes {
        let mut out = Lanes::zeros(self.count());
        for (j, &l) in self.first.iter().enumerate() {
            out.set(j, v.get(l as usize).unwrap_or(false));
        }
        out
    }

    /// Per lane, the bit of its class in `per_class`.
    fn spread(&self, per_class: &Lanes) -> Lanes {
        if self.count() == 1 {
            return Lanes::splat(per_class.get(0).unwrap_or(false), self.lanes());
        }
        let mut out = Lanes::zeros(self.lanes());
        for (l, &c) in self.of_lane.iter().enumerate() {
            if per_class.get(c as usize).unwrap_or(false) {
                out.set(l, true);
            }
        }
        out
    }

    /// Per lane the pad bit: bit `rank` of the AES-CTR stream of its
    /// class's key (`keys[j]` for class `j`).
    pub fn expand(&self, keys: &[Block]) -> Lanes {
        let streams: Vec<Vec<u64>> = keys
            .iter()
            .zip(&self.sizes)
            .map(|(k, &n)| {
                let blocks = AesPrg::new(*k).blocks((n as usize).div_ceil(128));
                blocks
                    .iter()
                    .flat_map(|b| [b.0 as u64, (b.0 >> 64) as u64])
                    .collect()
            })
            .collect();
        if self.count() == 1 {
            let mut words = streams.into_iter().next().unwrap_or_default();
            words.truncate(self.lanes().div_ceil(64));
            return Lanes::from_words(words, self.lanes());
        }
        let mut words = vec![0u64; self.lanes().div_ceil(64)];
        for (l, (&c, &r)) in self.of_lane.iter().zip(&self.rank).enumerate() {
            let s = &streams[c as usize];
            let bit = s[r as usize / 64] >> (r % 64) & 1;
            words[l / 64] |= bit << (l % 64);
        }
        Lanes::from_words(words, self.lanes())
    }
}

/// What is known about the lanes of a wire.
#[derive(Clone)]
enum Shape {
    /// Every lane carries the same value.
    Uniform,
    /// Lanes in one class carry the same value.
    Classes(Arc<ClassMap>),
    /// Nothing known.
    Distinct,
}

impl Shape {
    fn of_map(m: ClassMap) -> Shape {
        if m.count() <= 1 {
            Shape::Uniform
        } else if m.count() == m.lanes() {
            Shape::Distinct
        } else {
            Shape::Classes(Arc::new(m))
        }
    }

    /// Class labels of the lanes (`count` labels), for composing.
    fn labels(&self, lanes: usize) -> (Vec<u32>, usize) {
        match self {
            Shape::Uniform => (vec![0; lanes], 1),
            Shape::Classes(m) => (m.of_lane.clone(), m.count()),
            Shape::Distinct => ((0..lanes as u32).collect(), lanes),
        }
    }

    /// Shape of a lane-wise function of two wires with these shapes.
    fn join(a: &Shape, b: &Shape) -> Shape {
        match (a, b) {
            (Shape::Uniform, s) | (s, Shape::Uniform) => s.clone(),
            (Shape::Classes(x), Shape::Classes(y)) if Arc::ptr_eq(x, y) || x == y => {
                Shape::Classes(Arc::clone(x))
            }
            _ => Shape::Distinct,
        }
    }
}

/// How one interactive AND is evaluated with a fixed choice.
#[derive(Clone)]
pub struct FixedAnd {
    /// The party that knows `x` in the clear (OT receiver).
    pub chooser: Party,
    /// The operand the chooser knows.
    pub x: u32,
    /// The other operand.
    pub y: u32,
    /// The classes of `x`: one OT per class.
    pub classes: Arc<ClassMap>,
    /// Set for a carry-shaped triple `(x ⊕ c) ∧ (y' ⊕ c)`, evaluated as
    /// `x ∧ (y' ⊕ c) ⊕ y' ∧ c ⊕ c`: this fixed AND is the first term
    /// (`y` is the wire `y' ⊕ c`), the second is a per-lane mixed AND.
    pub split: Option<Split>,
}

/// The per-lane part of a split carry: `y' ∧ c`, `y'` private to the party
/// that does not choose, `c` shared.
#[derive(Clone, Copy)]
pub struct Split {
    /// `y'`, private to the other party (the ROT receiver of this part).
    pub y: u32,
    /// The shared wire `c` both operands were XORed with.
    pub c: u32,
}

/// Which mixed ANDs of a netlist run as fixed-choice ANDs, and the random
/// OTs the netlist then needs.
#[derive(Clone, Default)]
pub struct FixedPlan {
    /// Per gate id, if the gate is a fixed AND.
    gates: Vec<Option<FixedAnd>>,
    /// Bit-ROTs for triples and the remaining per-lane mixed ANDs.
    bits: Requirements,
    /// Key-ROTs (one per class of every fixed AND) the client receives.
    keys_client_receives: u64,
    /// Key-ROTs the server receives.
    keys_server_receives: u64,
}

crate::redacted_debug!(ClassMap, FixedPlan);

impl FixedPlan {
    /// Analyses `net`: every mixed AND whose clear operand has fewer
    /// classes than lanes becomes a fixed AND (for an AND of two private
    /// wires of different parties, the operand with fewer classes chooses).
    pub fn new(net: &Netlist) -> FixedPlan {
        Self::with_splits(net, true)
    }

    /// As [`FixedPlan::new`]; `splits = false` leaves carry-shaped triples
    /// as triples (to measure what the split saves).
    pub fn with_splits(net: &Netlist, splits: bool) -> FixedPlan {
        let info = net.info();
        let mut shapes: Vec<Shape> = Vec::with_capacity(info.len());
        let mut plan = FixedPlan {
            gates: vec![None; info.len()],
            bits: net.requirements(),
            ..FixedPlan::default()
        };
        for (id, gate) in net.gates().iter().enumerate() {
            let i = info[id];
            let lanes = i.lanes as usize;
            // Only private wires' shapes are ever used; skip the work for
            // shared ones.
            let private = matches!(i.knowledge, Knowledge::Private(_) | Knowledge::Public);
            let shape = match gate {
                _ if lanes <= 1 => Shape::Uniform,
                _ if !private => Shape::Distinct,
                Gate::Input(_) => Shape::Distinct,
                Gate::Const(c) => {
                    let v = &net.constants()[*c as usize];
                    let ones = v.count_ones();
                    if ones == 0 || ones == lanes {
                        Shape::Uniform
                    } else {
                        Shape::Distinct
                    }
                }
                Gate::Xor(a, b) | Gate::And(a, b) => {
                    Shape::join(&shapes[*a as usize], &shapes[*b as usize])
                }
                Gate::Not(a) => shapes[*a as usize].clone(),
                Gate::Slice { src, start } => {
                    let src_lanes = info[*src as usize].lanes as usize;
                    match &shapes[*src as usize] {
                        Shape::Uniform => Shape::Uniform,
                        s => {
                            let (labels, n) = s.labels(src_lanes);
                            let start = *start as usize;
                            Shape::of_map(ClassMap::from_labels(
                                labels[start..start + lanes].iter().copied(),
                                n,
                            ))
                        }
                    }
                }
                Gate::Gather { src, indices } => {
                    let src_lanes = info[*src as usize].lanes as usize;
                    let idx = &net.gathers()[*indices as usize];
                    match &shapes[*src as usize] {
                        Shape::Uniform => Shape::Uniform,
                        s => {
                            let (labels, n) = s.labels(src_lanes);
                            Shape::of_map(ClassMap::from_labels(
                                idx.iter().map(|&k| labels[k as usize]),
                                n,
                            ))
                        }
                    }
                }
                Gate::Concat { from, to } => {
                    let mut all = Vec::with_capacity(lanes);
                    let mut offset = 0usize;
                    for &p in &net.concat_parts()[*from as usize..*to as usize] {
                        let pl = info[p as usize].lanes as usize;
                        let (labels, n) = shapes[p as usize].labels(pl);
                        all.extend(labels.into_iter().map(|c| c + offset as u32));
                        offset += n;
                    }
                    Shape::of_map(ClassMap::from_labels(all.into_iter(), offset))
                }
            };
            match (gate, i.and_kind) {
                (Gate::And(a, b), Some(AndKind::OneOt { .. })) => {
                    plan.consider(net, id, *a, *b, &shapes);
                }
                (Gate::And(a, b), Some(AndKind::Triple)) if splits => {
                    plan.consider_carry(net, id, *a, *b, &shapes);
                }
                _ => {}
            }
            shapes.push(shape);
        }
        plan
    }

    /// A triple `(x ⊕ c) ∧ (y ⊕ c)` (a ripple carry) with `x`, `y` private
    /// to different parties, `c` shared and `x` fixed: becomes one fixed
    /// AND `x ∧ (y ⊕ c)` and one per-lane mixed AND `y ∧ c` (one random OT
    /// per lane instead of two).
    fn consider_carry(&mut self, net: &Netlist, id: usize, u: u32, v: u32, shapes: &[Shape]) {
        let info = net.info();
        let (Gate::Xor(u0, u1), Gate::Xor(v0, v1)) =
            (&net.gates()[u as usize], &net.gates()[v as usize])
        else {
            return;
        };
        let k = |w: u32| info[w as usize].knowledge;
        let mut best: Option<FixedAnd> = None;
        for (x, c, yv) in [(*u0, *u1, v), (*u1, *u0, v), (*v0, *v1, u), (*v1, *v0, u)] {
            let Knowledge::Private(p) = k(x) else {
                continue;
            };
            if k(c) != Knowledge::Shared {
                continue;
            }
            // The other operand must be y ⊕ c with y private to the peer.
            let Gate::Xor(w0, w1) = &net.gates()[yv as usize] else {
                continue;
            };
            let y = if *w1 == c {
                *w0
            } else if *w0 == c {
                *w1
            } else {
                continue;
            };
            if k(y) != Knowledge::Private(p.other()) {
                continue;
            }
            if let Some(m) = classes_of(info, shapes, x)
                && best.as_ref().is_none_or(|f| m.count() < f.classes.count())
            {
                best = Some(FixedAnd {
                    chooser: p,
                    x,
                    y: yv,
                    classes: m,
                    split: Some(Split { y, c }),
                });
            }
        }
        let Some(f) = best else { return };
        let lanes = u64::from(info[id].lanes);
        self.bits.triples -= lanes;
        match f.chooser.other() {
            Party::Client => self.bits.ot_ands_client_receives += lanes,
            Party::Server => self.bits.ot_ands_server_receives += lanes,
        }
        match f.chooser {
            Party::Client => self.keys_client_receives += f.classes.count() as u64,
            Party::Server => self.keys_server_receives += f.classes.count() as u64,
        }
        self.gates[id] = Some(f);
    }

    fn consider(&mut self, net: &Netlist, id: usize, a: u32, b: u32, shapes: &[Shape]) {
        let info = net.info();
        let classes = |w: u32| classes_of(info, shapes, w);
        let mut best: Option<FixedAnd> = None;
        for (x, y) in [(a, b), (b, a)] {
            let Knowledge::Private(p) = info[x as usize].knowledge else {
                continue;
            };
            // The other operand must not be the chooser's own (then the
            // AND would be local, never scheduled here).
            if info[y as usize].knowledge == Knowledge::Private(p) {
                continue;
            }
            if let Some(m) = classes(x)
                && best.as_ref().is_none_or(|f| m.count() < f.classes.count())
            {
                best = Some(FixedAnd {
                    chooser: p,
                    x,
                    y,
                    classes: m,
                    split: None,
                });
            }
        }
        let Some(f) = best else { return };
        let lanes = u64::from(info[id].lanes);
        let k = f.classes.count() as u64;
        match info[id].and_kind {
            Some(AndKind::OneOt {
                receiver: Party::Client,
            }) => self.bits.ot_ands_client_receives -= lanes,
            Some(AndKind::OneOt {
                receiver: Party::Server,
            }) => self.bits.ot_ands_server_receives -= lanes,
            _ => return,
        }
        match f.chooser {
            Party::Client => self.keys_client_receives += k,
            Party::Server => self.keys_server_receives += k,
        }
        self.gates[id] = Some(f);
    }

    /// The fixed AND at gate `id`, if it is one.
    pub fn gate(&self, id: u32) -> Option<&FixedAnd> {
        self.gates.get(id as usize).and_then(Option::as_ref)
    }

    /// Bit-ROTs still needed per lane (triples and the other mixed ANDs).
    pub fn bit_requirements(&self) -> &Requirements {
        &self.bits
    }

    /// Key-ROTs (128-bit keys) with `receiver` as receiver.
    pub fn keys_received_by(&self, receiver: Party) -> u64 {
        match receiver {
            Party::Client => self.keys_client_receives,
            Party::Server => self.keys_server_receives,
        }
    }

    /// Number of fixed ANDs and the lanes they cover (for cost reports).
    pub fn fixed_gates(&self, net: &Netlist) -> (u64, u64) {
        let mut gates = 0;
        let mut lanes = 0;
        for (id, g) in self.gates.iter().enumerate() {
            if g.is_some() {
                gates += 1;
                lanes += u64::from(net.info()[id].lanes);
            }
        }
        (gates, lanes)
    }

    /// Bits `me` sends for gate `id` of `lanes` lanes: for the fixed AND
    /// the chooser one per class, the other party one per lane; a split
    /// carry adds one per lane each for its mixed AND.
    pub(crate) fn bits_sent(&self, id: u32, me: Party, lanes: usize) -> Option<usize> {
        self.gate(id).map(|f| {
            let fixed = if f.chooser == me {
                f.classes.count()
            } else {
                lanes
            };
            fixed + if f.split.is_some() { lanes } else { 0 }
        })
    }
}

/// The classes of private wire `w` (one class for a uniform wire), if it
/// has fewer classes than lanes.
fn classes_of(
    info: &[crate::circuit::netlist::WireInfo],
    shapes: &[Shape],
    w: u32,
) -> Option<Arc<ClassMap>> {
    match &shapes[w as usize] {
        Shape::Uniform => Some(Arc::new(ClassMap::from_labels(
            std::iter::repeat_n(0, info[w as usize].lanes as usize),
            1,
        ))),
        Shape::Classes(m) => Some(Arc::clone(m)),
        Shape::Distinct => None,
    }
}

/// The chooser's masked choices `x_j ^ c_j`, one per class.
pub(crate) fn masked_choices(classes: &ClassMap, x: &Lanes, c: &Lanes) -> Lanes {
    classes.representatives(x).xor(c)
}

/// Per lane, the class bit of `per_class`.
pub(crate) fn spread_classes(classes: &ClassMap, per_class: &Lanes) -> Lanes {
    classes.spread(per_class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::Builder;
    use crate::circuit::netlist::NetlistBuilder;

    #[test]
    fn classes_follow_gathers_and_local_gates() {
        let mut b = NetlistBuilder::new();
        let q = b.input(Party::Client, 2).expect("input");
        let r = b.input(Party::Server, 3).expect("input");
        let by_query: Vec<u32> = (0..6).map(|l| l / 3).collect();
        let by_record: Vec<u32> = (0..6).map(|l| l % 3).collect();
        let qs = b.gather_lanes(&q, &by_query).expect("gather");
        let rs = b.gather_lanes(&r, &by_record).expect("gather");
        let nq = b.not(&qs).expect("not");
        let z = b.and(&nq, &rs).expect("and");
        let net = b.finish();
        let plan = FixedPlan::new(&net);
        let f = plan.gate(z.id()).expect("fixed");
        // The client's operand has 2 classes, the server's 3: client chooses.
        assert_eq!(f.chooser, Party::Client);
        assert_eq!(f.classes.count(), 2);
        assert_eq!(plan.keys_received_by(Party::Client), 2);
        assert_eq!(plan.bit_requirements().ot_ands_client_receives, 0);
    }

    #[test]
    fn expansion_gives_every_lane_its_own_stream_bit() {
        let m = ClassMap::from_labels([0u32, 1, 0, 1, 0].into_iter(), 2);
        let keys = [Block(7), Block(9)];
        let v = m.expand(&keys);
        let s0 = AesPrg::new(Block(7)).next_block().0;
        let s1 = AesPrg::new(Block(9)).next_block().0;
        let want = [s0 & 1, s1 & 1, s0 >> 1 & 1, s1 >> 1 & 1, s0 >> 2 & 1];
        for (l, w) in want.iter().enumerate() {
            assert_eq!(v.get(l), Some(*w == 1), "lane {l}");
        }
    }
}
