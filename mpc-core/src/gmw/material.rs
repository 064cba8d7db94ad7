//! Preprocessed correlated randomness of one party: Beaver triples and the
//! random OTs behind mixed-owner ANDs, all as packed bit vectors.
//!
//! Everything here is derived from bit-ROTs between the two parties (no
//! dealer). Per party there are two ROT batches: the ones it *receives*
//! (random choice bit `c`, message `m_c`) and the ones it *sends* (both
//! messages `m0`, `m1`). A triple takes one ROT of each batch:
//!
//! * `a = c` (my receiver choice), `b = m0 ^ m1` (my sender delta),
//! * `c = a & b ^ m_c ^ m0`.
//!
//! Across the parties the cross terms cancel: in the batch the client
//! receives, `a_client & b_server = m_c ^ m0`, and symmetrically for the
//! batch the server receives, so `c_client ^ c_server = (a_client ^
//! a_server) & (b_client ^ b_server)`.

use std::sync::Arc;

use super::GmwError;
use super::fixed::FixedPlan;
use crate::block::Block;
use crate::circuit::netlist::Requirements;
use crate::{Lanes, Party};

/// Bit-ROTs this party received: random choice bits and the chosen message
/// bits.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ReceivedBitRots {
    /// Random choice bits `c`.
    pub choices: Lanes,
    /// Message bits `m_c`.
    pub messages: Lanes,
}

/// Bit-ROTs this party sent: both message bits of every OT.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SentBitRots {
    /// Messages `m0`.
    pub m0: Lanes,
    /// Messages `m1`.
    pub m1: Lanes,
}

/// XOR shares of bit triples `c = a & b`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TripleShares {
    /// Share of `a`.
    pub a: Lanes,
    /// Share of `b`.
    pub b: Lanes,
    /// Share of `c`.
    pub c: Lanes,
}

/// One party's material for one netlist, consumed front to back by the
/// online phase in the netlist's layer order.
#[derive(Clone, Default)]
pub struct Material {
    pub(crate) triples: TripleShares,
    /// Mixed ANDs where this party is the ROT receiver: `(c, m_c)`.
    pub(crate) ot_recv: ReceivedBitRots,
    /// Mixed ANDs where this party is the ROT sender: `(m0 ^ m1, m0)`,
    /// stored as `m0 = m0`, `m1 = m0 ^ m1`.
    pub(crate) ot_send: SentBitRots,
    /// The fixed-choice ANDs of the netlist ([`super::fixed`]), if this
    /// material was made for them; `None` evaluates every mixed AND per
    /// lane.
    pub(crate) fixed: Option<Arc<FixedPlan>>,
    /// Key-ROTs of the fixed ANDs where this party chooses: `(c, k_c)`.
    pub(crate) key_recv: ReceivedKeyRots,
    /// Key-ROTs of the fixed ANDs where the peer chooses: `(k_0, k_1)`.
    pub(crate) key_send: Vec<[Block; 2]>,
}

/// Key-ROTs this party received: random choice bits and the chosen keys.
#[derive(Clone, Default)]
pub struct ReceivedKeyRots {
    /// Random choice bits `c`.
    pub choices: Lanes,
    /// Keys `k_c`.
    pub keys: Vec<Block>,
}

crate::redacted_debug!(
    ReceivedBitRots,
    SentBitRots,
    TripleShares,
    Material,
    ReceivedKeyRots
);

/// Triples and OT bits are one-time secrets: wiped when the material goes.
impl Drop for Material {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for l in [
            &mut self.triples.a,
            &mut self.triples.b,
            &mut self.triples.c,
            &mut self.ot_recv.choices,
            &mut self.ot_recv.messages,
            &mut self.ot_send.m0,
            &mut self.ot_send.m1,
        ] {
            l.zeroize();
        }
        self.key_recv.choices.zeroize();
        self.key_recv.keys.zeroize();
        for k in &mut self.key_send {
            k.zeroize();
        }
    }
}

fn take(l: &Lanes, start: usize, len: usize) -> Result<Lanes, GmwError> {
    l.slice(start, len).ok_or(GmwError::MaterialShort {
        needed: start + len,
        have: l.len(),
    })
}

impl Material {
    /// Splits the two ROT batches of `me` into triples and mixed-AND OTs for
    /// `req`. `received` must hold `req.rots_received_by(me)` OTs and `sent`
    /// `req.rots_received_by(me.other())`.
    pub fn from_rots(
        me: Party,
        req: &Requirements,
        received: &ReceivedBitRots,
        sent: &SentBitRots,
    ) -> Result<Material, GmwError> {
        let t = usize::try_from(req.triples).map_err(|_| GmwError::TooLarge)?;
        let need_recv =
            usize::try_from(req.rots_received_by(me)).map_err(|_| GmwError::TooLarge)?;
        let need_send =
            usize::try_from(req.rots_received_by(me.other())).map_err(|_| GmwError::TooLarge)?;
        if received.choices.len() != need_recv || received.messages.len() != need_recv {
            return Err(GmwError::MaterialShort {
                needed: need_recv,
                have: received.choices.len(),
            });
        }
        if sent.m0.len() != need_send || sent.m1.len() != need_send {
            return Err(GmwError::MaterialShort {
                needed: need_send,
                have: sent.m0.len(),
            });
        }
        let a = take(&received.choices, 0, t)?;
        let mc = take(&received.messages, 0, t)?;
        let m0 = take(&sent.m0, 0, t)?;
        let m1 = take(&sent.m1, 0, t)?;
        let b = m0.xor(&m1);
        let mut c = a.and(&b);
        c.xor_assign(&mc);
        c.xor_assign(&m0);
        let ot_recv = ReceivedBitRots {
            choices: take(&received.choices, t, need_recv - t)?,
            messages: take(&received.messages, t, need_recv - t)?,
        };
        let s0 = take(&sent.m0, t, need_send - t)?;
        let s1 = take(&sent.m1, t, need_send - t)?;
        let delta = s0.xor(&s1);
        Ok(Material {
            triples: TripleShares { a, b, c },
            ot_recv,
            ot_send: SentBitRots { m0: s0, m1: delta },
            fixed: None,
            key_recv: ReceivedKeyRots::default(),
            key_send: Vec::new(),
        })
    }

    /// Material for `plan`'s fixed ANDs: the bit-ROTs (as in
    /// [`Material::from_rots`], for `plan.bit_requirements()`) and the
    /// key-ROTs, `plan.keys_received_by(me)` received and
    /// `plan.keys_received_by(me.other())` sent.
    pub fn with_fixed(
        me: Party,
        plan: Arc<FixedPlan>,
        received: &ReceivedBitRots,
        sent: &SentBitRots,
        key_recv: ReceivedKeyRots,
        key_send: Vec<[Block; 2]>,
    ) -> Result<Material, GmwError> {
        let need_recv =
            usize::try_from(plan.keys_received_by(me)).map_err(|_| GmwError::TooLarge)?;
        let need_send =
            usize::try_from(plan.keys_received_by(me.other())).map_err(|_| GmwError::TooLarge)?;
        if key_recv.keys.len() != need_recv || key_recv.choices.len() != need_recv {
            return Err(GmwError::MaterialShort {
                needed: need_recv,
                have: key_recv.keys.len(),
            });
        }
        if key_send.len() != need_send {
            return Err(GmwError::MaterialShort {
                needed: need_send,
                have: key_send.len(),
            });
        }
        let mut m = Material::from_rots(me, plan.bit_requirements(), received, sent)?;
        m.fixed = Some(plan);
        m.key_recv = key_recv;
        m.key_send = key_send;
        Ok(m)
    }

    /// Number of triples held.
    pub fn triples(&self) -> usize {
        self.triples.a.len()
    }

    /// This party's triple shares (for inspection and tests; the online
    /// phase consumes them in layer order).
    pub fn triple_shares(&self) -> &TripleShares {
        &self.triples
    }
}
