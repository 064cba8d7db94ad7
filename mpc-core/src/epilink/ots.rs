//! The two random-OT streams of an EpiLink run and the GMW material drawn
//! from them.
//!
//! Each party is OT sender in one stream and receiver in the other
//! ([`CotSender`]/[`CotReceiver`], SoftSpokenOT). The run takes OTs
//! straight from the extension, batch by batch, and packs them into what
//! is needed at once (bit-ROTs for Beaver triples and mixed ANDs, keys for
//! products): no intermediate pool of 16-byte blocks is kept, which the
//! GMW preprocessing of a chunk (tens of millions of OTs) would otherwise
//! copy and page in and out several times.
//!
//! Protocol discipline: both parties call every method at the same point
//! with mirrored sizes (my `n_send` is the peer's `n_recv`).

use super::error::ProtocolError;
use crate::channel::Channel;
use crate::circuit::netlist::Netlist;
use crate::gmw::{GmwError, Material, ReceivedBitRots, SentBitRots};
use crate::ot::{CotReceiver, CotSender, RcotReceiverBatch, RcotSenderBatch};
use crate::{Lanes, Party};

/// OTs extended and packed per step of the GMW preprocessing: bounds the
/// 16-byte blocks alive at once (2^20 OTs = 16 MiB per direction) while
/// keeping the number of extension round trips small.
pub const BIT_ROT_BATCH: usize = 1 << 20;

/// The two OT streams of one party.
pub struct OtStreams {
    me: Party,
    sender: CotSender,
    receiver: CotReceiver,
}

impl OtStreams {
    /// Streams from extension instances already set up (see
    /// [`PeerOt`](super::peer_ot::PeerOt)); `me` is the job's role.
    pub fn from_instances(me: Party, sender: CotSender, receiver: CotReceiver) -> Self {
        OtStreams {
            me,
            sender,
            receiver,
        }
    }

    /// This party's role.
    pub fn party(&self) -> Party {
        self.me
    }

    /// Extends `n_send` OTs where this party sends and `n_recv` where it
    /// receives (the peer passes the two numbers swapped).
    ///
    /// Both parties run their receiver side first: it only sends (the
    /// correction words), so both directions' corrections are in flight at
    /// once and neither party waits for the other before sending.
    pub async fn extend<C: Channel>(
        &mut self,
        ch: &mut C,
        n_send: usize,
        n_recv: usize,
    ) -> Result<(RcotSenderBatch, RcotReceiverBatch), ProtocolError> {
        let r = self.receiver.extend(ch, n_recv).await?;
        let s = self.sender.extend(ch, n_send).await?;
        Ok((s, r))
    }

    /// Random OTs of one direction only: this party sends `n` if
    /// `i_send`, else receives `n` (the peer passes the opposite flag).
    pub async fn extend_one<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
        i_send: bool,
    ) -> Result<OneWay, ProtocolError> {
        Ok(if i_send {
            OneWay::Sent(self.sender.extend(ch, n).await?)
        } else {
            OneWay::Received(self.receiver.extend(ch, n).await?)
        })
    }

    /// The GMW material of `net`: bit-ROTs in both directions, packed
    /// batch by batch, split into triples and mixed-AND OTs.
    pub async fn material<C: Channel>(
        &mut self,
        ch: &mut C,
        net: &Netlist,
    ) -> Result<Material, ProtocolError> {
        let req = net.requirements();
        let too_large = || ProtocolError::from(GmwError::TooLarge);
        let n_recv = usize::try_from(req.rots_received_by(self.me)).map_err(|_| too_large())?;
        let n_send =
            usize::try_from(req.rots_received_by(self.me.other())).map_err(|_| too_large())?;
        let mut received = ReceivedBitRots {
            choices: Lanes::zeros(0),
            messages: Lanes::zeros(0),
        };
        let mut sent = SentBitRots {
            m0: Lanes::zeros(0),
            m1: Lanes::zeros(0),
        };
        let (mut done_recv, mut done_send) = (0usize, 0usize);
        while done_recv < n_recv || done_send < n_send {
            let r = BIT_ROT_BATCH.min(n_recv - done_recv);
            let s = BIT_ROT_BATCH.min(n_send - done_send);
            let (sb, rb) = self.extend(ch, s, r).await?;
            if s > 0 {
                let (m0, m1) = sb.random_bits();
                sent.m0.extend(&Lanes::from_words(m0, s));
                sent.m1.extend(&Lanes::from_words(m1, s));
            }
            if r > 0 {
                let (c, m) = rb.random_bits();
                received.choices.extend(&Lanes::from_words(c, r));
                received.messages.extend(&Lanes::from_words(m, r));
            }
            done_recv += r;
            done_send += s;
        }
        Ok(Material::from_rots(self.me, &req, &received, &sent)?)
    }
}

/// One direction's batch from [`OtStreams::extend_one`].
pub enum OneWay {
    /// This party sent.
    Sent(RcotSenderBatch),
    /// This party received.
    Received(RcotReceiverBatch),
}
