//! The online phase: layer-by-layer evaluation of a netlist on XOR shares.
//!
//! Per wire this party stores, depending on the wire's [`Knowledge`]:
//! the value (public, or private to this party), nothing (private to the
//! other party), or its XOR share (shared). "My share" of a wire is then:
//! the value for my private wires, zero for the other party's private wires,
//! the value on the client side and zero on the server side for public
//! wires, and the share for shared wires; XOR, NOT and lane moves act on
//! shares locally.
//!
//! Interactive ANDs of one level are evaluated together with one message
//! each way (see [`super`] for the gate protocols); local gates follow in
//! creation order. The output exchange is one more message each way.

use std::borrow::Cow;

use bytes::Bytes;
use rand::RngExt;

use super::GmwError;
use super::fixed::{masked_choices, spread_classes};
use super::io::{Inputs, Outputs};
use super::material::Material;
use crate::channel::{Channel, ChannelError};
use crate::circuit::netlist::{Gate, Netlist, Reveal};
use crate::circuit::{AndKind, Knowledge};
use crate::{Lanes, Party};

/// Largest single message the engine sends; bigger payloads are split
/// (both parties know every payload's exact length, so the split is
/// deterministic).
pub const CHUNK_BYTES: usize = 16 << 20;

/// Sends `payload` as one or more messages of at most [`CHUNK_BYTES`].
pub(crate) async fn send_payload<C: Channel>(
    ch: &mut C,
    payload: Vec<u8>,
) -> Result<(), ChannelError> {
    let all = Bytes::from(payload);
    let mut off = 0;
    while off < all.len() {
        let end = (off + CHUNK_BYTES).min(all.len());
        ch.send(all.slice(off..end)).await?;
        off = end;
    }
    Ok(())
}

/// Receives exactly `len` bytes sent by [`send_payload`].
/// A peer's bit vector that does not decode (wrong length, padding set) is
/// a malformed message, not a local bug.
pub(crate) fn peer_bits(what: &str, e: crate::lanes::LanesError) -> ChannelError {
    ChannelError::Malformed(format!("{what}: {e}"))
}

pub(crate) async fn recv_payload<C: Channel>(
    ch: &mut C,
    len: usize,
    what: &'static str,
) -> Result<Vec<u8>, ChannelError> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let expected = (len - out.len()).min(CHUNK_BYTES);
        let msg = ch.recv().await?;
        if msg.len() != expected {
            return Err(ChannelError::UnexpectedLength {
                what,
                expected,
                actual: msg.len(),
            });
        }
        out.extend_from_slice(&msg);
    }
    Ok(out)
}

/// Sequential reader over a received bit string.
struct BitCursor {
    bits: Lanes,
    pos: usize,
}

impl BitCursor {
    fn next(&mut self, len: usize) -> Result<Lanes, GmwError> {
        let l = self
            .bits
            .slice(self.pos, len)
            .ok_or(GmwError::Internal("message shorter than its layout"))?;
        self.pos += len;
        Ok(l)
    }
}

/// `len` bits of `l` from `off`, or the material is short.
fn slice_n(l: &Lanes, off: usize, len: usize) -> Result<Lanes, GmwError> {
    l.slice(off, len).ok_or(GmwError::MaterialShort {
        needed: off + len,
        have: l.len(),
    })
}

/// Offsets into the material, advanced as gates consume it.
#[derive(Default)]
struct Cursors {
    triple: usize,
    recv: usize,
    send: usize,
    key_recv: usize,
    key_send: usize,
}

/// What an interactive gate needs after the exchange.
enum Pending {
    Triple {
        a: Lanes,
        b: Lanes,
        c: Lanes,
        d: Lanes,
        e: Lanes,
    },
    Receiver {
        x: Lanes,
        y_mine: Lanes,
        m_c: Lanes,
    },
    Sender {
        delta: Lanes,
        m0: Lanes,
    },
    /// A split carry: the fixed AND, the per-lane mixed AND and this
    /// party's share of `c`, XORed together.
    Split {
        fixed: Box<Pending>,
        second: Box<Pending>,
        c: Lanes,
    },
    /// A fixed AND where the peer chooses: its masked choices come one
    /// per class and are spread over the lanes.
    FixedSender {
        delta: Lanes,
        m0: Lanes,
        classes: std::sync::Arc<super::fixed::ClassMap>,
    },
}

struct Evaluator<'n> {
    net: &'n Netlist,
    me: Party,
    vals: Vec<Option<Lanes>>,
}

impl<'n> Evaluator<'n> {
    fn knowledge(&self, w: u32) -> Knowledge {
        self.net.info()[w as usize].knowledge
    }

    fn lanes(&self, w: u32) -> usize {
        self.net.info()[w as usize].lanes as usize
    }

    /// The clear value of a wire this party knows.
    fn value(&self, w: u32) -> Result<&Lanes, GmwError> {
        self.vals[w as usize]
            .as_ref()
            .ok_or(GmwError::Internal("value of a wire not held"))
    }

    /// This party's XOR share of a wire (see the module docs).
    fn share(&self, w: u32) -> Result<Cow<'_, Lanes>, GmwError> {
        let mine = match self.knowledge(w) {
            Knowledge::Public => self.me == Party::Client,
            Knowledge::Private(p) => p == self.me,
            Knowledge::Shared => true,
        };
        if mine {
            Ok(Cow::Borrowed(self.value(w)?))
        } else {
            Ok(Cow::Owned(Lanes::zeros(self.lanes(w))))
        }
    }

    /// Whether this party holds anything for a wire of knowledge `k`.
    fn holds(&self, k: Knowledge) -> bool {
        k != Knowledge::Private(self.me.other())
    }

    /// Clear value (public or own private) or share, by the result's knowledge.
    fn operand(&self, w: u32, result: Knowledge) -> Result<Cow<'_, Lanes>, GmwError> {
        if result == Knowledge::Shared {
            self.share(w)
        } else {
            Ok(Cow::Borrowed(self.value(w)?))
        }
    }

    fn eval_local(&mut self, id: u32, inputs: &mut Inputs) -> Result<(), GmwError> {
        let info = self.net.info()[id as usize];
        let k = info.knowledge;
        if !self.holds(k) {
            return Ok(());
        }
        let v = match &self.net.gates()[id as usize] {
            Gate::Input(_) => inputs
                .take(id)
                .ok_or(GmwError::Internal("validated input missing"))?,
            Gate::Const(c) => self.net.constants()[*c as usize].clone(),
            Gate::Xor(a, b) => {
                let mut v = self.operand(*a, k)?.into_owned();
                v.xor_assign(&*self.operand(*b, k)?);
                v
            }
            Gate::Not(a) => {
                let mut v = self.operand(*a, k)?.into_owned();
                // A shared NOT flips the client's share only.
                if k != Knowledge::Shared || self.me == Party::Client {
                    v.not_assign();
                }
                v
            }
            Gate::And(a, b) => {
                // Local AND: public operand, or both private to one owner.
                let (ka, kb) = (self.knowledge(*a), self.knowledge(*b));
                if k == Knowledge::Shared {
                    let (public, shared) = if ka == Knowledge::Public {
                        (*a, *b)
                    } else {
                        (*b, *a)
                    };
                    let mut v = self.share(shared)?.into_owned();
                    v.and_assign(self.value(public)?);
                    v
                } else {
                    debug_assert!(ka != Knowledge::Shared && kb != Knowledge::Shared);
                    self.value(*a)?.and(self.value(*b)?)
                }
            }
            Gate::Slice { src, start } => self
                .operand(*src, k)?
                .slice(*start as usize, info.lanes as usize)
                .ok_or(GmwError::Internal("slice out of range"))?,
            Gate::Gather { src, indices } => self
                .operand(*src, k)?
                .gather(&self.net.gathers()[*indices as usize])
                .ok_or(GmwError::Internal("gather out of range"))?,
            Gate::Concat { from, to } => {
                let mut v = Lanes::zeros(0);
                for &p in &self.net.concat_parts()[*from as usize..*to as usize] {
                    v.extend(&*self.operand(p, k)?);
                }
                v
            }
        };
        self.vals[id as usize] = Some(v);
        Ok(())
    }

    /// Phase one of an interactive AND: consume material, append this
    /// party's masked bits to `out`.
    fn and_begin(
        &self,
        id: u32,
        mat: &Material,
        cur: &mut Cursors,
        out: &mut Lanes,
    ) -> Result<Pending, GmwError> {
        let info = self.net.info()[id as usize];
        let n = info.lanes as usize;
        let Gate::And(a, b) = self.net.gates()[id as usize] else {
            return Err(GmwError::Internal("interactive gate is not an AND"));
        };
        let slice = |l: &Lanes, off: usize| {
            l.slice(off, n).ok_or(GmwError::MaterialShort {
                needed: off + n,
                have: l.len(),
            })
        };
        if let Some(f) = mat.fixed.as_ref().and_then(|p| p.gate(id)) {
            let k = f.classes.count();
            let fixed = if f.chooser == self.me {
                let c = slice_n(&mat.key_recv.choices, cur.key_recv, k)?;
                let keys = mat
                    .key_recv
                    .keys
                    .get(cur.key_recv..cur.key_recv + k)
                    .ok_or(GmwError::MaterialShort {
                        needed: cur.key_recv + k,
                        have: mat.key_recv.keys.len(),
                    })?;
                cur.key_recv += k;
                let xv = self.value(f.x)?.clone();
                out.extend(&masked_choices(&f.classes, &xv, &c));
                // m_c = m_0 ^ c·Δ per lane, from the one key held per class.
                Pending::Receiver {
                    x: xv,
                    y_mine: self.share(f.y)?.into_owned(),
                    m_c: f.classes.expand(keys),
                }
            } else {
                let pairs = mat.key_send.get(cur.key_send..cur.key_send + k).ok_or(
                    GmwError::MaterialShort {
                        needed: cur.key_send + k,
                        have: mat.key_send.len(),
                    },
                )?;
                cur.key_send += k;
                let k0: Vec<_> = pairs.iter().map(|p| p[0]).collect();
                let k1: Vec<_> = pairs.iter().map(|p| p[1]).collect();
                let m0 = f.classes.expand(&k0);
                let delta = f.classes.expand(&k1).xor(&m0);
                out.extend(&self.share(f.y)?.xor(&delta));
                Pending::FixedSender {
                    delta,
                    m0,
                    classes: std::sync::Arc::clone(&f.classes),
                }
            };
            let Some(split) = f.split else {
                return Ok(fixed);
            };
            // (x ⊕ c) ∧ (y ⊕ c) = x ∧ (y ⊕ c) ⊕ y ∧ c ⊕ c: the per-lane
            // mixed AND y ∧ c, its receiver the owner of y.
            let second =
                self.one_ot_begin(f.chooser.other(), split.y, split.c, n, mat, cur, out)?;
            return Ok(Pending::Split {
                fixed: Box::new(fixed),
                second: Box::new(second),
                c: self.share(split.c)?.into_owned(),
            });
        }
        match info.and_kind {
            Some(AndKind::Triple) => {
                let (ta, tb, tc) = (
                    slice(&mat.triples.a, cur.triple)?,
                    slice(&mat.triples.b, cur.triple)?,
                    slice(&mat.triples.c, cur.triple)?,
                );
                cur.triple += n;
                let d = self.share(a)?.xor(&ta);
                let e = self.share(b)?.xor(&tb);
                out.extend(&d);
                out.extend(&e);
                Ok(Pending::Triple {
                    a: ta,
                    b: tb,
                    c: tc,
                    d,
                    e,
                })
            }
            Some(AndKind::OneOt { receiver }) => {
                // x: the operand the receiver knows in the clear.
                let (x, y) = if self.knowledge(a) == Knowledge::Private(receiver) {
                    (a, b)
                } else {
                    (b, a)
                };
                self.one_ot_begin(receiver, x, y, n, mat, cur, out)
            }
            _ => Err(GmwError::Internal("local AND scheduled as interactive")),
        }
    }

    /// Phase one of a per-lane mixed AND `x ∧ y`, `x` known in the clear to
    /// `receiver`, `n` lanes.
    #[allow(clippy::too_many_arguments)]
    fn one_ot_begin(
        &self,
        receiver: Party,
        x: u32,
        y: u32,
        n: usize,
        mat: &Material,
        cur: &mut Cursors,
        out: &mut Lanes,
    ) -> Result<Pending, GmwError> {
        if receiver == self.me {
            let c = slice_n(&mat.ot_recv.choices, cur.recv, n)?;
            let m_c = slice_n(&mat.ot_recv.messages, cur.recv, n)?;
            cur.recv += n;
            let xv = self.value(x)?.clone();
            out.extend(&xv.xor(&c));
            Ok(Pending::Receiver {
                x: xv,
                y_mine: self.share(y)?.into_owned(),
                m_c,
            })
        } else {
            let m0 = slice_n(&mat.ot_send.m0, cur.send, n)?;
            let delta = slice_n(&mat.ot_send.m1, cur.send, n)?;
            cur.send += n;
            out.extend(&self.share(y)?.xor(&delta));
            Ok(Pending::Sender { delta, m0 })
        }
    }

    /// Bits `party` sends for an interactive gate (equal for both except
    /// for fixed ANDs).
    fn and_bits(&self, id: u32, mat: &Material, party: Party) -> usize {
        let info = self.net.info()[id as usize];
        if let Some(n) = mat
            .fixed
            .as_ref()
            .and_then(|p| p.bits_sent(id, party, info.lanes as usize))
        {
            return n;
        }
        match info.and_kind {
            Some(AndKind::Triple) => 2 * info.lanes as usize,
            _ => info.lanes as usize,
        }
    }

    /// Phase two: combine with the peer's bits into this party's share.
    fn and_finish(&self, p: Pending, peer: &mut BitCursor) -> Result<Lanes, GmwError> {
        Ok(match p {
            Pending::Split { fixed, second, c } => {
                let mut z = self.and_finish(*fixed, peer)?;
                z.xor_assign(&self.and_finish(*second, peer)?);
                z.xor_assign(&c);
                z
            }
            Pending::Triple { a, b, mut c, d, e } => {
                let n = a.len();
                let d = d.xor(&peer.next(n)?);
                let e = e.xor(&peer.next(n)?);
                // z = c ^ d&b ^ e&a (^ d&e on the client side).
                c.xor_assign(&d.and(&b));
                c.xor_assign(&e.and(&a));
                if self.me == Party::Client {
                    c.xor_assign(&d.and(&e));
                }
                c
            }
            Pending::Receiver { x, mut y_mine, m_c } => {
                // z = x & (y_mine ^ e) ^ m_c
                let e = peer.next(x.len())?;
                y_mine.xor_assign(&e);
                y_mine.and_assign(&x);
                y_mine.xor_assign(&m_c);
                y_mine
            }
            Pending::Sender { delta, m0 } => {
                // z = d & delta ^ m0
                let mut d = peer.next(delta.len())?;
                d.and_assign(&delta);
                d.xor_assign(&m0);
                d
            }
            Pending::FixedSender { delta, m0, classes } => {
                // z = d & delta ^ m0, d one bit per class.
                let d = peer.next(classes.count())?;
                let mut d = spread_classes(&classes, &d);
                d.and_assign(&delta);
                d.xor_assign(&m0);
                d
            }
        })
    }
}

/// Evaluates `net` as party `me` with preprocessed `material`, exchanging
/// one message each way per interactive level plus one for the outputs.
pub async fn run_online<C: Channel>(
    net: &Netlist,
    me: Party,
    ch: &mut C,
    material: &Material,
    mut inputs: Inputs,
) -> Result<Outputs, GmwError> {
    inputs.validate(net, me)?;
    let layers = net.layers();
    let mut last_use = net.last_use(&layers);
    // A split carry also reads x, y' and c, the operands of its operands:
    // keep them until its step.
    let extra = |id: u32| -> Vec<u32> {
        match material.fixed.as_ref().and_then(|p| p.gate(id)) {
            Some(f) => match f.split {
                Some(sp) => vec![f.x, sp.y, sp.c],
                None => Vec::new(),
            },
            None => Vec::new(),
        }
    };
    if material.fixed.is_some() {
        let mut step = 0u32;
        for layer in &layers {
            for &id in layer.interactive.iter().chain(&layer.local) {
                step += 1;
                for w in extra(id) {
                    let l = &mut last_use[w as usize];
                    if *l != u32::MAX {
                        *l = (*l).max(step);
                    }
                }
            }
        }
    }
    let mut ev = Evaluator {
        net,
        me,
        vals: vec![None; net.gates().len()],
    };
    let mut cur = Cursors::default();
    let mut step = 0u32;
    let free = |ev: &mut Evaluator<'_>, id: u32, step: u32| {
        let mut ops = extra(id);
        ev.net.for_each_operand(id, |op| ops.push(op));
        for op in ops {
            if last_use[op as usize] == step {
                ev.vals[op as usize] = None;
            }
        }
    };
    for layer in &layers {
        if !layer.interactive.is_empty() {
            let total: usize = layer
                .interactive
                .iter()
                .map(|&g| ev.and_bits(g, material, me))
                .sum();
            let total_in: usize = layer
                .interactive
                .iter()
                .map(|&g| ev.and_bits(g, material, me.other()))
                .sum();
            let mut out = Lanes::zeros(0);
            let mut pending = Vec::with_capacity(layer.interactive.len());
            for &g in &layer.interactive {
                pending.push(ev.and_begin(g, material, &mut cur, &mut out)?);
            }
            debug_assert_eq!(out.len(), total);
            let mut bytes = Vec::with_capacity(out.byte_len());
            out.write_bytes(&mut bytes);
            send_payload(ch, bytes).await?;
            let peer = recv_payload(ch, total_in.div_ceil(8), "GMW layer").await?;
            let mut peer = BitCursor {
                bits: Lanes::from_bytes(&peer, total_in).map_err(|e| peer_bits("GMW layer", e))?,
                pos: 0,
            };
            for (&g, p) in layer.interactive.iter().zip(pending) {
                let z = ev.and_finish(p, &mut peer)?;
                ev.vals[g as usize] = Some(z);
            }
            for &g in &layer.interactive {
                step += 1;
                free(&mut ev, g, step);
            }
        }
        for &g in &layer.local {
            ev.eval_local(g, &mut inputs)?;
            step += 1;
            free(&mut ev, g, step);
        }
    }
    reveal_outputs(&ev, ch).await
}

/// Who sends what in the output exchange, per output.
fn output_flow(k: Knowledge, reveal: Reveal, me: Party) -> (bool, bool) {
    // (I send my share/value, I receive the peer's)
    let other = me.other();
    match (reveal, k) {
        // Shares: the client sends a fresh mask r; both add it. This holds
        // for public wires too (their share is the value at the client and
        // 0 at the server), so it must come before the `Public` arm.
        (Reveal::Shares, _) => (me == Party::Client, me == Party::Server),
        (_, Knowledge::Public) => (false, false),
        (Reveal::Both, Knowledge::Shared) => (true, true),
        (Reveal::Both, Knowledge::Private(p)) => (p == me, p == other),
        (Reveal::To(q), Knowledge::Shared) => (q == other, q == me),
        (Reveal::To(q), Knowledge::Private(p)) => (p == me && q == other, p == other && q == me),
    }
}

async fn reveal_outputs<C: Channel>(ev: &Evaluator<'_>, ch: &mut C) -> Result<Outputs, GmwError> {
    let net = ev.net;
    let me = ev.me;
    // Built before any await: the thread-local RNG is not `Send`.
    let (out_bits, in_bits, masks) = {
        let mut out_bits = Lanes::zeros(0);
        let mut in_bits = 0usize;
        let mut masks = Vec::new();
        let mut rng = rand::rng();
        for o in net.outputs() {
            let k = ev.knowledge(o.wire);
            let (send, recv) = output_flow(k, o.reveal, me);
            let n = ev.lanes(o.wire);
            if send {
                if o.reveal == Reveal::Shares {
                    let mut words = vec![0u64; n.div_ceil(64)];
                    rng.fill(&mut words[..]);
                    let r = Lanes::from_words(words, n);
                    out_bits.extend(&r);
                    masks.push(r);
                } else {
                    out_bits.extend(&*ev.share(o.wire)?);
                }
            }
            if recv {
                in_bits += n;
            }
        }
        (out_bits, in_bits, masks)
    };
    let mut peer = BitCursor {
        bits: Lanes::zeros(0),
        pos: 0,
    };
    if !out_bits.is_empty() {
        let mut bytes = Vec::with_capacity(out_bits.byte_len());
        out_bits.write_bytes(&mut bytes);
        send_payload(ch, bytes).await?;
    }
    if in_bits > 0 {
        let got = recv_payload(ch, in_bits.div_ceil(8), "GMW outputs").await?;
        peer.bits = Lanes::from_bytes(&got, in_bits).map_err(|e| peer_bits("GMW outputs", e))?;
    }
    let mut masks = masks.into_iter();
    let mut values = Vec::with_capacity(net.outputs().len());
    for o in net.outputs() {
        let k = ev.knowledge(o.wire);
        let (send, recv) = output_flow(k, o.reveal, me);
        let n = ev.lanes(o.wire);
        let v = match o.reveal {
            Reveal::Shares => {
                let r = if send {
                    masks.next().ok_or(GmwError::Internal("mask missing"))?
                } else {
                    peer.next(n)?
                };
                let _ = recv;
                Some(ev.share(o.wire)?.xor(&r))
            }
            Reveal::Both | Reveal::To(_) => {
                let learns = o.reveal == Reveal::Both || o.reveal == Reveal::To(me);
                if !learns {
                    None
                } else if k == Knowledge::Public || k == Knowledge::Private(me) {
                    Some(ev.value(o.wire)?.clone())
                } else if recv {
                    Some(ev.share(o.wire)?.xor(&peer.next(n)?))
                } else {
                    return Err(GmwError::Internal("output flow inconsistent"));
                }
            }
        };
        values.push(v);
    }
    Ok(Outputs {
        values,
        reveal: net.outputs().iter().map(|o| o.reveal).collect(),
    })
}
